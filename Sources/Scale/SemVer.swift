import Engine

/// A Semantic Version 2.0 (`1.10.0-rc.1+build`), ordered by SemVer precedence: numbers
/// numerically, a release above its prereleases, prerelease identifiers left to right (numeric
/// ones numerically and below alphanumeric ones), build metadata ignored.
package struct SemVer: Comparable, Sendable {
    let major: Int
    let minor: Int
    let patch: Int
    let prerelease: [String]
    let build: String?

    /// Parses the strict SemVer grammar (no leading zeros, no missing parts); nil otherwise.
    package init?(_ text: String) {
        let (withoutBuild, build) = SemVer.split(text, at: "+")
        let (core, pre) = SemVer.split(withoutBuild, at: "-")
        let numbers = core.split(separator: ".", omittingEmptySubsequences: false)
        guard numbers.count == 3, let major = SemVer.number(numbers[0]), let minor = SemVer.number(numbers[1]),
            let patch = SemVer.number(numbers[2])
        else { return nil }
        let identifiers = pre.map { $0.split(separator: ".", omittingEmptySubsequences: false).map(String.init) } ?? []
        for identifier in identifiers {
            guard !identifier.isEmpty, identifier.allSatisfy(SemVer.isIdentifierCharacter) else { return nil }
            if identifier.allSatisfy(\.isASCIIDigit), identifier.count > 1, identifier.first == "0" { return nil }
        }
        if let build {
            let parts = build.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(SemVer.isIdentifierCharacter) }) else { return nil }
        }
        self.major = major
        self.minor = minor
        self.patch = patch
        prerelease = identifiers
        self.build = build
    }

    package static func < (a: SemVer, b: SemVer) -> Bool {
        if (a.major, a.minor, a.patch) != (b.major, b.minor, b.patch) { return (a.major, a.minor, a.patch) < (b.major, b.minor, b.patch) }
        switch (a.prerelease.isEmpty, b.prerelease.isEmpty) {
        case (true, true): return false
        case (true, false): return false
        case (false, true): return true
        case (false, false): break
        }
        for (x, y) in zip(a.prerelease, b.prerelease) where x != y {
            switch (Int(x), Int(y)) {
            case let (m?, n?): return m < n
            case (_?, nil): return true
            case (nil, _?): return false
            case (nil, nil): return x < y
            }
        }
        return a.prerelease.count < b.prerelease.count
    }

    package static func == (a: SemVer, b: SemVer) -> Bool { !(a < b) && !(b < a) }

    /// A text key whose byte order (`COLLATE "C"`) is SemVer precedence, so SQL can sort by it:
    /// zero-padded numbers, then `~` for a release (above any prerelease), or `-` and the
    /// identifiers — numeric ones as `0` + padded digits, others as `1` + text — joined by `!`,
    /// which sorts below every identifier character so that fewer identifiers rank lower.
    package var sortKey: String {
        func padded(_ value: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, 19 - digits.count)) + digits
        }
        let numbers = "\(padded(major)).\(padded(minor)).\(padded(patch))"
        guard !prerelease.isEmpty else { return numbers + "~" }
        return numbers + "-"
            + prerelease.map { identifier in
                identifier.allSatisfy(\.isASCIIDigit) ? "0" + padded(Int(identifier) ?? Int.max) : "1" + identifier
            }.joined(separator: "!")
    }

    private static func split(_ text: String, at separator: Character) -> (String, String?) {
        guard let index = text.firstIndex(of: separator) else { return (text, nil) }
        return (String(text[..<index]), String(text[text.index(after: index)...]))
    }

    private static func number(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.allSatisfy(\.isASCIIDigit), text == "0" || text.first != "0" else { return nil }
        return Int(text)
    }

    private static func isIdentifierCharacter(_ character: Character) -> Bool {
        character.isASCII && (character.isLetter || character.isNumber || character == "-")
    }
}

private extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
