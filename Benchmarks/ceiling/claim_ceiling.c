/* The ceiling of the claim design on Sundial's own schema (after `sundial migrate`): C clients that
   claim due rows of `cron` with the project's claim shape (UPDATE ... ORDER BY task_id, status, next_run
   LIMIT n), read them back by token, insert one finished `cron_run` row each and mark the rows done,
   (by primary key, fenced by the token) in one transaction per batch. Same tables, same indexes, no
   pool, no thread hand-off, no handler.
   Build: gcc -O2 claim_ceiling.c $(pkg-config --cflags --libs libmariadb) -lpthread -o claim_ceiling
   Usage: claim_ceiling SOCKET DATABASE CLIENTS BATCH [USER [PASSWORD]]  -> prints rows/s over the whole drain
   Kept here from ../shared/bench (the measuring stick), with the user and password as arguments;
   `sundial-bench drain` builds and runs it beside the executors. */
#include <mysql.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *sock, *db, *user = "root", *password = ""; static int batch;
static long total[64];

static void die(MYSQL *m, const char *what) { fprintf(stderr, "%s: %s\n", what, mysql_error(m)); exit(1); }

static void *client(void *arg) {
  long me = (long)arg; char q[8192]; static __thread char ins[1 << 20], ids[1 << 16]; mysql_thread_init();
  MYSQL *m = mysql_init(NULL);
  if (!mysql_real_connect(m, NULL, user, password, db, 0, sock, 0)) die(m, "connect");
  mysql_query(m, "SET time_zone='+00:00', SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED");
  mysql_autocommit(m, 1);
  for (long round = 0;; round++) {
    long token = (me + 1) * 100000000L + round;
    snprintf(q, sizeof q, "UPDATE cron SET task_id=%ld, claimed_by='limit-%ld', claimed_at=NOW(6) WHERE task_id IS NULL AND status='active' AND next_run < NOW(6) ORDER BY task_id, status, next_run LIMIT %d", token, me, batch);
    if (mysql_query(m, q)) { if (mysql_errno(m) == 1213) continue; die(m, "claim"); }
    if (mysql_affected_rows(m) == 0) break;
    snprintf(q, sizeof q, "SELECT id, name, action, payload, schedule, timezone, next_run, fire_at, attempt, max_attempts, timeout_seconds, delivery FROM cron WHERE task_id=%ld", token);
    if (mysql_query(m, q)) die(m, "select");
    MYSQL_RES *r = mysql_store_result(m); MYSQL_ROW row;
    size_t n = snprintf(ins, sizeof ins, "INSERT INTO cron_run (cron_id, scheduled_for, attempt, executor, task_id, started_at, finished_at, status, exit_code) VALUES ");
    int k = 0; size_t ni = 0;
    while ((row = mysql_fetch_row(r))) {
      ni += snprintf(ids + ni, sizeof ids - ni, "%s%s", k ? "," : "", row[0]);
      n += snprintf(ins + n, sizeof ins - n, "%s(%s,'%s',1,'limit-%ld',%ld,NOW(6),NOW(6),'succeeded',0)", k ? "," : "", row[0], row[6] ? row[6] : "2000-01-01", me, token); k++;
    }
    mysql_free_result(r);
    snprintf(q, sizeof q, "UPDATE cron SET task_id=NULL, claimed_by=NULL, status='done', next_run=NULL, attempt=0, last_duration=0 WHERE id IN (");
    char *release = malloc(strlen(q) + ni + 64);
    sprintf(release, "%s%s) AND task_id=%ld", q, ids, token);
    for (int attempt = 0;; attempt++) {   /* one transaction; run again after a deadlock */
      if (mysql_query(m, "BEGIN")) die(m, "begin");
      if (!mysql_query(m, ins) && !mysql_query(m, release) && !mysql_query(m, "COMMIT")) break;
      unsigned e = mysql_errno(m);
      mysql_query(m, "ROLLBACK");
      if ((e != 1213 && e != 1205) || attempt == 10) die(m, "record");
    }
    free(release);
    total[me] += k;
  }
  mysql_close(m); mysql_thread_end(); return NULL;
}

int main(int argc, char **argv) {
  if (argc < 5) { fprintf(stderr, "usage: claim_ceiling SOCKET DATABASE CLIENTS BATCH [USER [PASSWORD]]\n"); return 2; }
  sock = argv[1]; db = argv[2]; int clients = atoi(argv[3]); batch = atoi(argv[4]);
  if (argc > 5) user = argv[5];
  if (argc > 6) password = argv[6];
  mysql_library_init(0, NULL, NULL);
  pthread_t t[64]; struct timespec a, b; clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < clients; i++) pthread_create(&t[i], NULL, client, (void *)i);
  long sum = 0; for (int i = 0; i < clients; i++) { pthread_join(t[i], NULL); sum += total[i]; }
  clock_gettime(CLOCK_MONOTONIC, &b);
  double s = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
  printf("%ld rows in %.3f s: %.0f rows/s (clients=%d batch=%d)\n", sum, s, sum / s, clients, batch);
  return 0;
}
