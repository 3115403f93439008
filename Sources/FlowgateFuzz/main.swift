import Foundation

// flowgate-fuzz TARGET [ARGUMENT...]
//   built by ops/fuzz with -sanitize=fuzzer (-DFUZZING): libFuzzer explores TARGET, with its
//   own options and corpus directories as the arguments.
//   any other build: replays every file of the directories given once (a regression run).
let arguments = CommandLine.arguments
guard arguments.count >= 2, let target = FuzzTarget.all.first(where: { $0.name == arguments[1] }) else {
    print("usage: flowgate-fuzz TARGET [ARGUMENT...]; targets: \(FuzzTarget.all.map(\.name).joined(separator: " "))")
    exit(2)
}

#if FUZZING
    import CLibFuzzer

    /// The sanitizer runtime links libFuzzer's own main, which wants this symbol; the driver below
    /// is what runs, with `target` as its callback.
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt { 0 }

    nonisolated(unsafe) var fuzzed = target
    var driverArguments = [arguments[0]] + arguments.dropFirst(2)
    var argc = CInt(driverArguments.count)
    var cArguments = driverArguments.map { strdup($0) } + [nil]
    let status = cArguments.withUnsafeMutableBufferPointer { buffer -> CInt in
        var argv = buffer.baseAddress
        return LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            fuzzed.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
            return 0
        }
    }
    exit(status)
#else
    var replayed = 0
    for directory in arguments.dropFirst(2) {
        for file in (try? FileManager.default.contentsOfDirectory(atPath: directory))?.sorted() ?? [] {
            guard let data = FileManager.default.contents(atPath: directory + "/" + file) else { continue }
            target.run(Array(data))
            replayed += 1
        }
    }
    print("\(target.name): \(replayed) inputs replayed")
#endif
