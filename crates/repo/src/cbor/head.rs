//! CBOR item heads (major type and argument) for code that writes or patches fixed shapes by
//! hand: the repo's writers and the wire crate's frame encoder and seq splice.

/// Appends a CBOR head (major type 0–7 and its argument) in the shortest form, as canonical
/// DAG-CBOR requires. For writers that encode fixed shapes by hand, here and in the wire crate.
pub fn write_head(out: &mut Vec<u8>, major: u8, arg: u64) {
    let major = major << 5;
    if arg < 24 {
        out.push(major | arg as u8);
    } else if arg <= u64::from(u8::MAX) {
        out.extend_from_slice(&[major | 24, arg as u8]);
    } else if arg <= u64::from(u16::MAX) {
        out.push(major | 25);
        out.extend_from_slice(&(arg as u16).to_be_bytes());
    } else if arg <= u64::from(u32::MAX) {
        out.push(major | 26);
        out.extend_from_slice(&(arg as u32).to_be_bytes());
    } else {
        out.push(major | 27);
        out.extend_from_slice(&arg.to_be_bytes());
    }
}

/// Reads the CBOR head at the start of `bytes`: major type, argument and the head's length in
/// bytes. `None` for indefinite lengths, reserved forms and input cut short. It does not insist on
/// the shortest form: it reads heads of bytes a strict decoder has already accepted.
pub fn read_head(bytes: &[u8]) -> Option<(u8, u64, usize)> {
    let first = *bytes.first()?;
    let (major, info) = (first >> 5, first & 0x1f);
    let width = match info {
        0..=23 => return Some((major, u64::from(info), 1)),
        24 => 1,
        25 => 2,
        26 => 4,
        27 => 8,
        _ => return None,
    };
    let argument = bytes
        .get(1..1 + width)?
        .iter()
        .fold(0u64, |acc, byte| acc << 8 | u64::from(*byte));
    Some((major, argument, 1 + width))
}

#[cfg(test)]
mod tests {
    use super::super::major::UNSIGNED;
    use super::*;

    #[test]
    fn heads_of_every_width_read_back() {
        for value in [
            0u64,
            23,
            24,
            255,
            256,
            65_535,
            65_536,
            u64::from(u32::MAX) + 1,
        ] {
            let mut encoded = Vec::new();
            write_head(&mut encoded, UNSIGNED, value);
            assert_eq!(read_head(&encoded), Some((UNSIGNED, value, encoded.len())));
        }
        assert_eq!(read_head(&[0x1f]), None, "indefinite length");
        assert_eq!(read_head(&[0x19, 0x01]), None, "cut short");
    }
}
