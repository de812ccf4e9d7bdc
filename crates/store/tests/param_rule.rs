//! The rule for template parameter values exists twice: in Rust for values
//! an operator types, in SQL for every contact's values. They must agree.

use domain::campaign::check_param_value;
use sqlx::PgPool;

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn sql_and_rust_accept_and_refuse_the_same_parameter_values(pg: PgPool) {
    let long = "x".repeat(1025);
    let max = "é".repeat(1024);
    let values = [
        "Ana",
        "Ana María",
        "a    b",
        "  padded  ",
        "C-1234",
        "😀",
        &max, // accepted
        "",
        " ",
        "\t",
        "\n",
        "\u{a0}",
        "\u{2003}\u{3000}",
        "\u{b}",
        "\u{85}", // blank
        "two\nlines",
        "cr\rhere",
        "tab\there",
        "a     b",
        &long, // refused
    ];
    for value in values {
        let sql: bool = sqlx::query_scalar("select param_value_ok($1)").bind(value).fetch_one(&pg).await.expect("sql");
        assert_eq!(sql, check_param_value(value).is_ok(), "{value:?}");
    }
    let null: bool =
        sqlx::query_scalar("select coalesce(param_value_ok(null), false)").fetch_one(&pg).await.expect("sql");
    assert!(!null, "a missing value is not acceptable");
}
