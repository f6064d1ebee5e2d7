//! Certificates for TLS tests: a test CA made with the `openssl` command, a server
//! certificate it signs for `127.0.0.1` and `localhost`, and a client certificate
//! (`CN=zenml test client`), valid for two days.

use std::path::Path;
use std::process::{Command, Stdio};

/// Whether the `openssl` command can be run.
pub fn openssl_available() -> bool {
    Command::new("openssl")
        .arg("version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Runs `command`; its output in the error when it fails.
fn run(command: &mut Command) -> Result<(), String> {
    let output = command
        .output()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// The `openssl` configuration of the test CA and the certificates it signs.
const OPENSSL_CONFIG: &str = "\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = zenml test CA
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
[client]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
";

/// Makes, in `dir` (needs the `openssl` command), a CA (`ca.pem`), a server certificate
/// and key it signs (`server.pem`, `server-key.pem`, for 127.0.0.1 and localhost) and a
/// client certificate and key (`client.pem`, `client-key.pem`).
pub fn make_test_certificates(dir: &Path) -> Result<(), String> {
    let config = dir.join("openssl.cnf");
    std::fs::write(&config, OPENSSL_CONFIG)
        .map_err(|e| format!("cannot write the openssl configuration: {e}"))?;
    let openssl = || {
        let mut command = Command::new("openssl");
        command.current_dir(dir);
        command
    };
    let new_key = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(openssl()
        .args(["req", "-x509", "-new", "-config"])
        .arg(&config)
        .args(["-extensions", "ca", "-days", "2"])
        .args(new_key)
        .args(["-keyout", "ca-key.pem", "-out", "ca.pem"]))?;
    for (name, subject, serial) in [
        ("server", "/CN=localhost", "2"),
        ("client", "/CN=zenml test client", "3"),
    ] {
        run(openssl()
            .args(["req", "-new", "-config"])
            .arg(&config)
            .args(["-subj", subject])
            .args(new_key)
            .args(["-keyout", &format!("{name}-key.pem")])
            .args(["-out", &format!("{name}.csr")]))?;
        run(openssl()
            .args(["x509", "-req", "-in", &format!("{name}.csr")])
            .args([
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca-key.pem",
                "-set_serial",
                serial,
            ])
            .args(["-days", "2", "-extfile"])
            .arg(&config)
            .args(["-extensions", name, "-out", &format!("{name}.pem")]))?;
    }
    Ok(())
}
