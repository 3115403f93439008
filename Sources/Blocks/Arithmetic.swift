import Engine

/// The Arithmetic module, native: the names, fields, families and defaults of the upstream
/// Python blocks, with the seed-era semantics (Constant echoes its text; the others take
/// Python `int()` of their inputs; Division is true division).
enum Arithmetic {
    static let blocks: [BlockDefinition] = [
        BlockDefinition(
            module: "Arithmetic", name: "Constant", family: "Constant",
            fields: [
                BlockField(name: "constant value", type: "NUMBER", role: .parameter(defaultValue: "10")),
                BlockField(name: "output", type: "NUMBER", role: .output),
            ]
        ) { data throws(PythonError) in
            [("output", try value(data, "constant value"))]
        },
        binary("Addition", family: "AddSub") { a, b in a.addingReportingOverflow(b) },
        binary("Subtraction", family: "AddSub") { a, b in a.subtractingReportingOverflow(b) },
        binary("Multiplication", family: "MultiDiv") { a, b in a.multipliedReportingOverflow(by: b) },
        BlockDefinition(module: "Arithmetic", name: "Division", family: "MultiDiv", fields: binaryFields) { data throws(PythonError) in
            let numerator = try value(data, "num1").toInt()
            let denominator = try value(data, "num2").toInt()
            guard denominator != 0 else { throw PythonError(type: "ZeroDivisionError", message: "division by zero") }
            return [("output", .float(Double(numerator) / Double(denominator)))]
        },
    ]

    static let binaryFields = [
        BlockField(name: "num1", type: "NUMBER", role: .input),
        BlockField(name: "num2", type: "NUMBER", role: .input),
        BlockField(name: "output", type: "NUMBER", role: .output),
    ]

    static func binary(
        _ name: String, family: String,
        _ operation: @escaping @Sendable (Int, Int) -> (partialValue: Int, overflow: Bool)
    ) -> BlockDefinition {
        BlockDefinition(module: "Arithmetic", name: name, family: family, fields: binaryFields) { data throws(PythonError) in
            let result = operation(try value(data, "num1").toInt(), try value(data, "num2").toInt())
            guard !result.overflow else { throw PythonValue.tooLarge }
            return [("output", .int(result.partialValue))]
        }
    }

    /// `data[name]`, or Python's KeyError.
    static func value(_ data: [String: PythonValue], _ name: String) throws(PythonError) -> PythonValue {
        guard let value = data[name] else { throw PythonError(type: "KeyError", message: PythonValue.stringRepr(name)) }
        return value
    }
}
