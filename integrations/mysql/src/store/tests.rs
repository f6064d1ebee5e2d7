//! Tests of the MySQL store's retry rules and conversions, without a server.

use std::time::Instant;

use super::*;

fn config(host: &str) -> MysqlMetadataStoreConfig {
    MysqlMetadataStoreConfig {
        host: host.to_owned(),
        port: 3307,
        username: "zenml".to_owned(),
        database: "meta".to_owned(),
        password_env: None,
        password_file: None,
        password: Some(zenml_core::SecretString::new("hunter2")),
        pool_size: 2,
        connect_timeout_secs: 1,
        tls: false,
        tls_ca: None,
        tls_cert: None,
        tls_key: None,
        tls_verify: true,
    }
}

#[test]
fn uris_name_the_server_without_the_password() {
    assert_eq!(
        mysql_uri(&config("db.example.com")),
        "mysql://zenml@db.example.com:3307/meta"
    );
    assert_eq!(mysql_uri(&config("::1")), "mysql://zenml@[::1]:3307/meta");
}

fn server_error(code: u16) -> MetadataStoreError {
    backend(mysql_async::Error::Server(mysql_async::ServerError {
        code,
        message: format!("error {code}"),
        state: "40001".to_owned(),
    }))
}

#[test]
fn deadlocks_and_lock_wait_timeouts_are_retried_a_few_times() {
    let budget = Duration::from_secs(5);
    for code in [ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT] {
        let mut attempts = 0;
        let result = retry_transient(budget, &AtomicU64::new(0), || {
            attempts += 1;
            if attempts < 3 {
                Err(server_error(code))
            } else {
                Ok(attempts)
            }
        });
        assert_eq!(result.unwrap(), 3);
    }

    let mut attempts = 0;
    let err = retry_transient(budget, &AtomicU64::new(0), || -> Result<(), _> {
        attempts += 1;
        Err(server_error(ER_LOCK_DEADLOCK))
    })
    .unwrap_err();
    assert_eq!(attempts, server::MAX_CONFLICT_ATTEMPTS);
    assert_eq!(server_error_code(&err), Some(ER_LOCK_DEADLOCK));

    let mut attempts = 0;
    let err = retry_transient(budget, &AtomicU64::new(0), || -> Result<(), _> {
        attempts += 1;
        Err(server_error(ER_DUP_ENTRY))
    })
    .unwrap_err();
    assert_eq!(attempts, 1, "other errors are not retried");
    assert!(!is_lock_conflict(&err) && !is_connection_loss(&err));
}

fn io_error(kind: std::io::ErrorKind) -> mysql_async::Error {
    mysql_async::Error::Io(mysql_async::IoError::Io(std::io::Error::from(kind)))
}

#[test]
fn lost_connections_are_recognized() {
    let lost = [
        backend(io_error(std::io::ErrorKind::ConnectionReset)),
        backend(io_error(std::io::ErrorKind::UnexpectedEof)),
        backend(mysql_async::Error::Driver(
            mysql_async::DriverError::ConnectionClosed,
        )),
        MetadataStoreError::Connect {
            uri: "mysql://root@127.0.0.1:3306/zenml".to_owned(),
            source: Box::new(io_error(std::io::ErrorKind::ConnectionRefused)),
        },
        server_error(ER_SERVER_SHUTDOWN),
        server_error(ER_CONNECTION_KILLED),
        server_error(CR_SERVER_GONE_ERROR),
        server_error(CR_SERVER_LOST),
        server_error(ER_CLIENT_INTERACTION_TIMEOUT),
    ];
    for error in &lost {
        assert!(is_connection_loss(error), "{error:?}");
    }
    let other = [
        server_error(ER_DUP_ENTRY),
        server_error(ER_LOCK_DEADLOCK),
        MetadataStoreError::Connect {
            uri: "mysql://root@127.0.0.1:3306/zenml".to_owned(),
            source: "the server did not answer within 5 seconds".into(),
        },
        MetadataStoreError::Config("bad".to_owned()),
    ];
    for error in &other {
        assert!(!is_connection_loss(error), "{error:?}");
    }
}

#[test]
fn lost_connections_are_retried_within_the_budget() {
    let mut attempts = 0;
    let result = retry_transient(Duration::from_secs(5), &AtomicU64::new(0), || {
        attempts += 1;
        if attempts < 4 {
            Err(server_error(CR_SERVER_GONE_ERROR))
        } else {
            Ok(attempts)
        }
    });
    assert_eq!(result.unwrap(), 4);

    // Pauses of 20, 40, 80, 160 ms fit in 400 ms; the next, 320 ms, does not.
    let started = Instant::now();
    let mut attempts = 0;
    let err = retry_transient(
        Duration::from_millis(400),
        &AtomicU64::new(0),
        || -> Result<(), _> {
            attempts += 1;
            Err(backend(io_error(std::io::ErrorKind::ConnectionRefused)))
        },
    )
    .unwrap_err();
    assert!(is_connection_loss(&err));
    assert_eq!(attempts, 5);
    // Sleeps last at least as long as asked: a lower bound, never an upper one.
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[test]
fn values_convert_both_ways() {
    assert_eq!(sql_value(Value::UInt(7)).unwrap(), SqlValue::Int(7));
    assert!(sql_value(Value::UInt(u64::MAX)).is_err());
    assert!(sql_value(Value::Bytes(vec![0xff])).is_err());
    assert!(sql_value(Value::Double(0.5)).is_err());
    assert_eq!(
        sql_value(Value::Bytes("é".into())).unwrap(),
        SqlValue::Text("é".to_owned())
    );
    assert_eq!(mysql_params(&[]), Params::Empty);
    assert_eq!(
        mysql_params(&[SqlValue::Null, SqlValue::Int(-1), "x".into()]),
        Params::Positional(vec![
            Value::NULL,
            Value::Int(-1),
            Value::Bytes(b"x".to_vec())
        ])
    );
}

#[test]
fn async_callers_are_refused() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let err = runtime.block_on(async {
        MysqlMetadataStore::open(&config("127.0.0.1"), &ComponentContext::new("/")).unwrap_err()
    });
    assert!(err.to_string().contains("spawn_blocking"), "{err}");
}
