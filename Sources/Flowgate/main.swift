import FlowgateApp
import Glibc
import Log

let configuration = Configuration.fromEnvironment()
Log.instance = configuration.instance
Log.minimumLevel = configuration.logLevel == "debug" ? .debug : configuration.logLevel == "warning" ? .warning : .info
FlowgateCommand.main()
