"""The console in a real browser (headless Chromium driven by Selenium), against `sundial serve`
on a fresh database: what an operator does, start to end. Run by deploy/dev/browser-check, which
starts the server and passes its address and users in the environment.

Every page is saved as a screenshot in SUNDIAL_SCREENSHOTS; a failing step names the screenshot
taken when it failed.
"""

import json
import os
import sys
import time
import traceback

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import Select, WebDriverWait

URL = os.environ["SUNDIAL_URL"].rstrip("/")
SHOTS = os.environ["SUNDIAL_SCREENSHOTS"]
ADMIN = (os.environ["SUNDIAL_ADMIN"], os.environ["SUNDIAL_ADMIN_PASSWORD"])
VIEWER = (os.environ["SUNDIAL_VIEWER"], os.environ["SUNDIAL_VIEWER_PASSWORD"])

os.makedirs(SHOTS, exist_ok=True)
shots = 0


def browser():
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000",
                 "--force-prefers-reduced-motion"):
        options.add_argument(flag)
    options.binary_location = os.environ.get("SUNDIAL_CHROMIUM", "/usr/bin/chromium")
    service = Service(executable_path=os.environ.get("SUNDIAL_CHROMEDRIVER", "/usr/bin/chromedriver"))
    return webdriver.Chrome(service=service, options=options)


def shot(driver, name):
    """Saves the page as NN-name.png and returns the file's path."""
    global shots
    shots += 1
    path = os.path.join(SHOTS, f"{shots:02d}-{name}.png")
    driver.save_screenshot(path)
    return path


def wait(driver, condition, seconds=15):
    # A page being replaced (a form's answer, a live refresh) may be read half-gone: look again.
    return WebDriverWait(driver, seconds, poll_frequency=0.2,
                         ignored_exceptions=(StaleElementReferenceException, WebDriverException)).until(condition)


def text_of(driver):
    return driver.find_element(By.TAG_NAME, "body").text


def sign_in(driver, who):
    driver.get(URL + "/login")
    driver.find_element(By.ID, "name").send_keys(who[0])
    driver.find_element(By.ID, "password").send_keys(who[1])
    driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()
    wait(driver, ready.presence_of_element_located((By.CSS_SELECTOR, "form.whoami")))


def sign_out(driver):
    driver.find_element(By.CSS_SELECTOR, "form.whoami button").click()
    wait(driver, ready.presence_of_element_located((By.ID, "password")))


def fill(driver, field, value):
    element = driver.find_element(By.ID, "f-" + field)
    element.clear()
    element.send_keys(value)


def new_task(driver, name, command, schedule):
    driver.get(URL + "/task/new")
    fill(driver, "name", name)
    fill(driver, "action", "shell")
    fill(driver, "payload", json.dumps({"command": command}))
    fill(driver, "schedule", schedule)


def save(driver):
    driver.find_element(By.CSS_SELECTOR, "form.task-form button[type=submit]").click()


def steps():
    driver = browser()
    step = "start"
    try:
        step = "the login page"
        driver.get(URL + "/")
        assert "Sign in to Sundial" in text_of(driver)
        shot(driver, "login")

        step = "signing in as an admin"
        sign_in(driver, ADMIN)
        assert "Dashboard" in driver.title
        shot(driver, "dashboard-empty")

        step = "a task with a bad schedule saves nothing and says why next to the field"
        new_task(driver, "browser-hello", "echo hello from the browser", "61 * * * *")
        # The preview says so while typing.
        wait(driver, lambda d: "Not a schedule" in d.find_element(By.ID, "preview-text").text)
        save(driver)
        error = wait(driver, ready.presence_of_element_located((By.ID, "e-schedule")))
        assert "61" in error.text, error.text
        shot(driver, "task-form-error")
        driver.get(URL + "/tasks?q=browser-hello")
        assert "No task matches" in text_of(driver)

        step = "fixing the schedule: the next fires show, the task is saved and runs"
        new_task(driver, "browser-hello", "echo hello from the browser", "*/2 * * * * *")
        wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#preview-fires li")) == 10)
        shot(driver, "task-form-preview")
        save(driver)
        wait(driver, ready.presence_of_element_located((By.XPATH, "//h1[contains(., 'browser-hello')]")))
        assert "Next fires" in text_of(driver)
        # The latest runs refresh by themselves.
        wait(driver, lambda d: "succeeded" in d.find_element(By.CSS_SELECTOR, "[data-live]").text, 30)
        assert "hello from the browser" in text_of(driver)
        shot(driver, "task")

        step = "pause, resume, delete"
        driver.find_element(By.XPATH, "//form[@action='/task/pause']/button").click()
        wait(driver, lambda d: "pause 'browser-hello': done" in text_of(d))
        assert driver.find_element(By.CSS_SELECTOR, "h1 .status").text == "paused"
        driver.find_element(By.XPATH, "//form[@action='/task/resume']/button").click()
        wait(driver, lambda d: "resume 'browser-hello': done" in text_of(d))
        assert driver.find_element(By.CSS_SELECTOR, "h1 .status").text == "active"
        driver.find_element(By.XPATH, "//form[@action='/task/delete']/button").click()
        driver.switch_to.alert.accept()
        wait(driver, lambda d: "delete 'browser-hello': done" in text_of(d))
        driver.get(URL + "/tasks?q=browser-hello")
        assert "No task matches" in text_of(driver)

        step = "following the live output of a long shell job, then killing it"
        new_task(driver, "browser-long", "for i in $(seq 1 120); do echo tick $i; sleep 1; done", "")
        save(driver)
        wait(driver, ready.presence_of_element_located((By.XPATH, "//h1[contains(., 'browser-long')]")))
        driver.get(URL + "/runs?task=browser-long")
        link = wait(driver, ready.presence_of_element_located((By.CSS_SELECTOR, "table.list tbody a")), 20)
        link.click()
        wait(driver, lambda d: "tick 3" in d.find_element(By.ID, "live-output").text, 20)
        # It keeps growing on the open page, without a reload.
        seen = driver.find_element(By.ID, "live-output").text
        wait(driver, lambda d: len(d.find_element(By.ID, "live-output").text) > len(seen), 10)
        shot(driver, "run-live-output")
        driver.find_element(By.XPATH, "//form[@action='/task/kill']/button").click()
        wait(driver, lambda d: "run(s) of 'browser-long' to stop" in text_of(d))
        driver.get(URL + "/runs?task=browser-long")
        wait(driver, lambda d: "killed" in (d.refresh() or text_of(d)), 20)
        shot(driver, "runs")

        step = "the other pages"
        for page, name in (("/", "dashboard"), ("/tasks", "tasks"), ("/executors", "executors"),
                           ("/users", "users"), ("/audit", "audit")):
            driver.get(URL + page)
            assert "Internal" not in text_of(driver)
            shot(driver, name)
        assert "task.kill" in text_of(driver)  # the audit log has the kill

        step = "bulk pause of the tasks selected on the list, counted in the confirmation"
        for name in ("browser-bulk-1", "browser-bulk-2"):
            new_task(driver, name, "true", "@daily")
            save(driver)
            wait(driver, ready.presence_of_element_located((By.XPATH, f"//h1[contains(., '{name}')]")))
        driver.get(URL + "/tasks?q=browser-bulk&sort=next_run")
        driver.find_element(By.ID, "select-all").click()
        Select(driver.find_element(By.ID, "bulk-verb")).select_by_visible_text("Pause")
        driver.find_element(By.CSS_SELECTOR, "form#bulk button[type=submit]").click()
        wait(driver, lambda d: "Pause the 2 selected tasks?" in text_of(d))
        shot(driver, "tasks-bulk-confirm")
        driver.find_element(By.XPATH, "//form[@action='/tasks/bulk']//button[@type='submit']").click()
        wait(driver, lambda d: "Pause: 2 of 2 task(s) changed." in text_of(d))
        driver.get(URL + "/tasks?q=browser-bulk&status=paused")
        assert len(driver.find_elements(By.CSS_SELECTOR, "table.list tbody tr")) == 2

        step = "the viewer's own settings: the time zone pages show times in"
        driver.get(URL + "/settings")
        Select(driver.find_element(By.ID, "timezone")).select_by_value("Europe/Paris")
        driver.find_element(By.XPATH, "//form[@action='/settings/timezone']/button").click()
        wait(driver, lambda d: "times are now shown in Europe/Paris" in text_of(d))
        shot(driver, "settings")

        step = "a viewer sees no action buttons, and a forged change is refused"
        new_task(driver, "browser-kept", "true", "@daily")
        save(driver)
        wait(driver, ready.presence_of_element_located((By.XPATH, "//h1[contains(., 'browser-kept')]")))
        sign_out(driver)
        sign_in(driver, VIEWER)
        driver.get(URL + "/task?name=browser-kept")
        assert not driver.find_elements(By.CSS_SELECTOR, "form[action^='/task/']")
        assert not driver.find_elements(By.LINK_TEXT, "Edit")
        shot(driver, "task-as-viewer")
        status = driver.execute_async_script(
            """
            const done = arguments[arguments.length - 1];
            fetch('/task/pause', {method: 'POST', credentials: 'same-origin',
                  body: new URLSearchParams({name: 'browser-kept', _csrf: 'forged'})})
              .then(r => done(r.status), e => done(String(e)));
            """)
        assert status == 403, status
        # Even with the page's own token, a viewer may not.
        token = driver.find_element(By.CSS_SELECTOR, "form.whoami input[name=_csrf]").get_attribute("value")
        status = driver.execute_async_script(
            """
            const done = arguments[arguments.length - 1];
            fetch('/task/pause', {method: 'POST', credentials: 'same-origin',
                  body: new URLSearchParams({name: 'browser-kept', _csrf: arguments[0]})})
              .then(r => done(r.status), e => done(String(e)));
            """, token)
        assert status == 403, status
        driver.get(URL + "/task?name=browser-kept")
        assert driver.find_element(By.CSS_SELECTOR, "h1 .status").text == "active"
        print(f"browser: PASS every step; {shots} screenshots in {SHOTS}")
        return 0
    except (AssertionError, TimeoutException, Exception) as error:
        path = shot(driver, "FAILED")
        print(f"browser: FAIL at '{step}': {error!r}; the page then: {path}", file=sys.stderr)
        traceback.print_exc()
        return 1
    finally:
        driver.quit()


if __name__ == "__main__":
    sys.exit(steps())
