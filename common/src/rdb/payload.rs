//! DUMP / RESTORE payloads (cluster.c `createDumpPayload`, `verifyDumpPayload`): the RDB type
//! byte, the value body as in an RDB file, the 2-byte little-endian RDB version and a CRC64
//! (little-endian) of everything before it.

use super::read::{Reader, ReaderOptions};
use super::write::{put_value, value_type};
use super::{RdbError, Value, RDB_VERSION_MAX};

/// Why a payload was refused, with the reply texts of RESTORE.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// Shorter than 10 bytes, newer RDB version than ours, or CRC mismatch
    /// (`verifyDumpPayload`).
    #[error("ERR DUMP payload version or checksum are wrong")]
    VersionOrChecksum,
    /// The body does not decode as a value (`rdbLoadObject` failed or an empty collection).
    #[error("ERR Bad data format")]
    BadFormat(Option<RdbError>),
}

/// A DUMP payload of `v` at RDB version 12 (what Redis 7.4's DUMP writes), compressing strings
/// longer than 20 bytes as `rdbcompression yes` does.
pub fn dump_payload(v: &Value) -> Vec<u8> {
    dump_payload_with(v, RDB_VERSION_MAX, true)
        .expect("every value can be written at the newest version")
}

/// A DUMP payload of `v` for RDB version `rdbver` (>= 10). Errors when the value cannot be
/// expressed at that version (hash field TTLs below 12).
pub fn dump_payload_with(v: &Value, rdbver: u32, compress: bool) -> Result<Vec<u8>, RdbError> {
    let mut out = vec![value_type(v, rdbver)];
    put_value(&mut out, v, rdbver, compress)?;
    out.extend_from_slice(&(rdbver as u16).to_le_bytes());
    let crc = super::crc64::crc64(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// Checks a payload's footer as `verifyDumpPayload` does and returns `(rdb version, body)`,
/// the body being the type byte + value. With `skip_checksum` (Redis's
/// `skip-checksum-validation`) the CRC is not compared.
pub fn verify_payload_with(p: &[u8], skip_checksum: bool) -> Result<(u16, &[u8]), PayloadError> {
    if p.len() < 10 {
        return Err(PayloadError::VersionOrChecksum);
    }
    let footer = &p[p.len() - 10..];
    let rdbver = u16::from_le_bytes([footer[0], footer[1]]);
    if rdbver as u32 > RDB_VERSION_MAX {
        return Err(PayloadError::VersionOrChecksum);
    }
    if !skip_checksum {
        let crc = super::crc64::crc64(0, &p[..p.len() - 8]);
        if crc.to_le_bytes() != footer[2..10] {
            return Err(PayloadError::VersionOrChecksum);
        }
    }
    Ok((rdbver, &p[..p.len() - 10]))
}

/// [`verify_payload_with`] with the checksum compared.
pub fn verify_payload(p: &[u8]) -> Result<(u16, &[u8]), PayloadError> {
    verify_payload_with(p, false)
}

/// Verifies a payload and decodes its value (RESTORE's `rdbLoadObjectType` +
/// `rdbLoadObject`); returns the RDB type byte and the value. `deep` is
/// `sanitize-dump-payload yes`. As in Redis, the value is read from the whole payload: a body
/// that claims more bytes than it has reads on into the version and CRC footer (RESTORE
/// accepts such a payload), and bytes left after the value are ignored.
pub fn decode_payload(p: &[u8], deep: bool) -> Result<(u8, Value), PayloadError> {
    let (ver, _body) = verify_payload(p)?;
    let mut r = Reader::new(
        p,
        ReaderOptions {
            verify_checksum: false,
            deep,
        },
    );
    r.set_version(ver as u32);
    let t = r.read_u8().map_err(|e| PayloadError::BadFormat(Some(e)))?;
    if !super::types::is_object_type(t) {
        return Err(PayloadError::BadFormat(None));
    }
    match r.read_value(t) {
        Ok(Some(v)) => Ok((t, v)),
        Ok(None) => Err(PayloadError::BadFormat(None)),
        Err(e) => Err(PayloadError::BadFormat(Some(e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trip_and_refusals() {
        let v = Value::String(b"hello".to_vec());
        let p = dump_payload(&v);
        assert_eq!(decode_payload(&p, true).unwrap(), (0, v));
        let mut bad = p.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(verify_payload(&bad), Err(PayloadError::VersionOrChecksum));
        let mut newer = p[..p.len() - 10].to_vec();
        newer.extend_from_slice(&13u16.to_le_bytes());
        let crc = crate::rdb::crc64::crc64(0, &newer);
        newer.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(verify_payload(&newer), Err(PayloadError::VersionOrChecksum));
        assert_eq!(
            verify_payload(b"short"),
            Err(PayloadError::VersionOrChecksum)
        );
        assert_eq!(
            PayloadError::VersionOrChecksum.to_string(),
            "ERR DUMP payload version or checksum are wrong"
        );
    }
}
