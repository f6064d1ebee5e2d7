//! TLS for the connections, with rustls, as libpq's `sslmode` asks: which certificates are
//! trusted, how much of the server's certificate is verified, and the client certificate.

use std::fmt;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;
use zenml_core::ComponentContext;
use zenml_metadata_store::MetadataStoreError;
use zenml_metadata_store::server::read_pem_file;

use crate::{PostgresMetadataStoreConfig, SslMode};

/// The TLS connector of the connections `config` describes. With `sslmode = "disable"` it
/// is never used, but the pool's type needs one.
pub(crate) fn connector(
    config: &PostgresMetadataStoreConfig,
    context: &ComponentContext,
) -> Result<MakeRustlsConnect, MetadataStoreError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?;
    let roots = Arc::new(roots(config, context)?);
    let builder = match config.sslmode {
        SslMode::VerifyFull => builder.with_root_certificates(roots),
        SslMode::VerifyCa => {
            let inner = WebPkiServerVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(tls_error)?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyName(inner)))
        }
        SslMode::Disable | SslMode::Prefer | SslMode::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unverified(
                provider.signature_verification_algorithms,
            ))),
    };
    let tls = match (&config.sslcert, &config.sslkey) {
        (Some(cert), Some(key)) => {
            let pem = read_pem_file(
                context,
                "sslcert",
                cert,
                "cannot read the TLS client certificate file (`sslcert`)",
            )?;
            let chain = CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| pem_error("sslcert", e))?;
            let pem = read_pem_file(
                context,
                "sslkey",
                key,
                "cannot read the TLS client key file (`sslkey`)",
            )?;
            let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| pem_error("sslkey", e))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(tls_error)?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(MakeRustlsConnect::new(tls))
}

/// The CAs trusted to sign the server's certificate: those of `sslrootcert`, or the
/// built-in (Mozilla) roots.
fn roots(
    config: &PostgresMetadataStoreConfig,
    context: &ComponentContext,
) -> Result<RootCertStore, MetadataStoreError> {
    let Some(file) = &config.sslrootcert else {
        return Ok(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        });
    };
    let pem = read_pem_file(
        context,
        "sslrootcert",
        file,
        "cannot read the TLS root certificate file (`sslrootcert`)",
    )?;
    let mut roots = RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(&pem) {
        let certificate = certificate.map_err(|e| pem_error("sslrootcert", e))?;
        roots.add(certificate).map_err(|e| {
            MetadataStoreError::Config(format!(
                "a certificate in the file given as `sslrootcert` cannot be used as a root: {e}"
            ))
        })?;
    }
    Ok(roots)
}

fn pem_error(key: &str, error: impl fmt::Display) -> MetadataStoreError {
    MetadataStoreError::Config(format!(
        "the file given as `{key}` cannot be read as PEM: {error}"
    ))
}

fn tls_error(error: impl fmt::Display) -> MetadataStoreError {
    MetadataStoreError::Config(format!("cannot set up TLS: {error}"))
}

/// `verify-ca`: the chain must lead to a trusted root, whatever host the certificate names.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `prefer` and `require`: encryption without verifying who the server is, as libpq does in
/// these modes. The handshake's signatures are still checked, so the session key belongs to
/// whoever holds the certificate's key.
#[derive(Debug)]
struct Unverified(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> PostgresMetadataStoreConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn every_mode_has_a_connector() {
        let context = ComponentContext::new(std::env::temp_dir());
        for mode in ["disable", "prefer", "require", "verify-ca", "verify-full"] {
            let config = config(&format!(
                r#"{{"host": "db", "database": "zenml", "sslmode": "{mode}"}}"#
            ));
            connector(&config, &context).unwrap();
        }
    }

    #[test]
    fn unreadable_and_non_pem_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), "not a certificate").unwrap();
        let context = ComponentContext::new(dir.path());
        let not_pem = config(
            r#"{"host": "db", "database": "zenml", "sslmode": "verify-full", "sslrootcert": "ca.pem"}"#,
        );
        let err = connector(&not_pem, &context).err().unwrap().to_string();
        assert!(
            err.contains("`sslrootcert`") && err.contains("PEM"),
            "{err}"
        );
        let missing = config(
            r#"{"host": "db", "database": "zenml", "sslmode": "require", "sslcert": "c.pem", "sslkey": "k.pem"}"#,
        );
        let err = connector(&missing, &context).err().unwrap().to_string();
        assert!(err.contains("`sslcert`") && err.contains("c.pem"), "{err}");
    }
}
