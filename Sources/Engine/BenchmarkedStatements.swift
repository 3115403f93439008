/// The SQL behind the routes `ops/bench` measures, so that pgbench runs exactly what Flowgate
/// runs (`flowgate statement NAME`; the placeholders are for the caller to fill).
public enum BenchmarkedStatements {
    public static let all: [(name: String, purpose: String, sql: String)] = [
        ("authenticate", "whoami: $1 = token", AccountQueries.userByToken.sql),
        ("scale-job-types-page", "GET /v6/job-types/: $1-$4 filters (NULL), $5 limit, $6 offset",
         (try? JobTypes.listSQL(order: JobTypes.defaultOrder)) ?? ""),
        ("scale-claim", "POST /v6/jobs/claim/: $1 = worker name", ScaleJobQueries.claim.sql),
    ]
}
