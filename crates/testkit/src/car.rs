//! Writing CAR v1 files: `varint(header length) ‖ {roots, version: 1} ‖ (varint(len) ‖ CID ‖ data)*`.
//!
//! The header is written by hand in canonical DAG-CBOR (`roots` sorts before `version`).

use atrelay_repo::cid::Cid;

/// Writes a CAR v1 file with the given roots and blocks, blocks in the order given.
pub fn write_car<'a>(
    roots: &[Cid],
    blocks: impl IntoIterator<Item = (&'a Cid, &'a [u8])>,
) -> Vec<u8> {
    let mut header = Vec::with_capacity(64);
    header.push(0xa2);
    cbor_text(&mut header, "roots");
    cbor_head(&mut header, 4, roots.len() as u64);
    for root in roots {
        let bytes = root.to_bytes();
        header.extend_from_slice(&[0xd8, 42]);
        cbor_head(&mut header, 2, bytes.len() as u64 + 1);
        header.push(0);
        header.extend_from_slice(&bytes);
    }
    cbor_text(&mut header, "version");
    header.push(0x01);

    let mut out = Vec::with_capacity(header.len() + 16);
    varint(&mut out, header.len() as u64);
    out.extend_from_slice(&header);
    for (cid, data) in blocks {
        let cid = cid.to_bytes();
        varint(&mut out, (cid.len() + data.len()) as u64);
        out.extend_from_slice(&cid);
        out.extend_from_slice(data);
    }
    out
}

/// Writes an unsigned LEB128 varint (multiformats style).
fn varint(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn cbor_head(out: &mut Vec<u8>, major: u8, n: u64) {
    let major = major << 5;
    if n < 24 {
        out.push(major | n as u8);
    } else if n <= 0xff {
        out.extend_from_slice(&[major | 24, n as u8]);
    } else if n <= 0xffff {
        out.push(major | 25);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else if n <= 0xffff_ffff {
        out.push(major | 26);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(major | 27);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn cbor_text(out: &mut Vec<u8>, s: &str) {
    cbor_head(out, 3, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use atrelay_repo::car::Car;
    use atrelay_repo::cid::cid_for_dag_cbor;

    #[test]
    fn written_car_reads_back() {
        let a: &[u8] = b"\xa1\x61a\x01";
        let b = vec![0xa1, 0x61, b'b', 0x19, 0x01, 0x00];
        let (ca, cb) = (cid_for_dag_cbor(a), cid_for_dag_cbor(&b));
        let bytes = write_car(&[ca], [(&ca, a), (&cb, b.as_slice())]);
        let car = Car::read(&bytes, usize::MAX).unwrap();
        assert_eq!(car.roots(), &[ca]);
        assert_eq!(car.get(&cb), Some(b.as_slice()));
        assert_eq!(car.len(), 2);
        let mut big = Vec::new();
        varint(&mut big, 300);
        assert_eq!(big, vec![0xac, 0x02]);
    }
}
