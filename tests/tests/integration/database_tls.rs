//! TLS to Postgres, as `KEYHOLD_DATABASE_URL`'s `sslmode` and `sslrootcert` ask
//! (libpq's names and meanings; `prefer` when the URL names none, but plain to a
//! Postgres on this machine): the ha overlay connects with `sslmode=verify-full` and
//! the cluster's CA.

use keyhold_platform::db::connect;
use keyhold_tests::TestDatabase;
use sqlx::Row;

/// Whether the connection `url` opens is encrypted, by the server's own account.
async fn encrypted(url: &str) -> anyhow::Result<bool> {
    let pool = connect(url, 1, &[]).await?;
    let row = sqlx::query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&pool)
        .await?;
    Ok(row.get::<bool, _>("ssl"))
}

async fn server_setting(url: &str, name: &str) -> String {
    let pool = connect(url, 1, &[]).await.unwrap();
    sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(format!("SHOW {name}")))
        .fetch_one(&pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn sslmode_in_the_database_url_is_honoured() {
    let database = TestDatabase::create().await;
    let url = &database.url;
    assert!(
        !encrypted(&format!("{url}?sslmode=disable")).await.unwrap(),
        "sslmode=disable talks in the clear"
    );
    if url.contains("127.0.0.1") {
        assert!(
            !encrypted(url).await.unwrap(),
            "no sslmode, on loopback: in the clear"
        );
    }
    if server_setting(url, "ssl").await != "on" {
        // A server without TLS (the tests' private cluster): asking for it fails,
        // in one line naming the database, never silently in the clear.
        let refused = encrypted(&format!("{url}?sslmode=require"))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            refused.starts_with("cannot reach the database postgres://"),
            "{refused}"
        );
        return;
    }
    assert!(encrypted(&format!("{url}?sslmode=require")).await.unwrap());
    // verify-full checks the server's certificate against sslrootcert and its name
    // against the host: the machine's certificate names localhost only.
    let certificate = server_setting(url, "ssl_cert_file").await;
    let by_name = url.replacen("127.0.0.1", "localhost", 1);
    let verified = format!("{by_name}?sslmode=verify-full&sslrootcert={certificate}");
    assert!(encrypted(&verified).await.unwrap(), "{verified}");
    if url.contains("127.0.0.1") {
        let by_address = format!("{url}?sslmode=verify-full&sslrootcert={certificate}");
        let refused = encrypted(&by_address).await.unwrap_err().to_string();
        assert!(
            refused.starts_with("cannot reach the database postgres://127.0.0.1:"),
            "{refused}"
        );
    }
}
