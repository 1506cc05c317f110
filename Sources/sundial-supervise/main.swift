import SundialSupervisor

#if canImport(Glibc)
    import Glibc
#endif

// Installed beside `sundial`; see `Supervisor`.
exit(Supervisor.main(arguments: Array(CommandLine.arguments.dropFirst())))
