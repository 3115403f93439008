import FlowgateApp
import Glibc
import Log

let configuration = Configuration.fromEnvironment()
Log.instance = configuration.instance
Log.minimumLevel = configuration.logLevel == "debug" ? .debug : configuration.logLevel == "warning" ? .warning : .info
exit(Commands.run(Array(CommandLine.arguments.dropFirst()), configuration))
