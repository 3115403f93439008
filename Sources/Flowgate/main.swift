import FlowgateApp
import Glibc
import Log

let configuration = Configuration.fromEnvironment()
Log.bootstrap(instance: configuration.instance, level: configuration.logLevel)
Telemetry.bootstrap(instance: configuration.instance)
FlowgateCommand.main()
