//! The protobuf wire format, as far as reading fields and writing them back takes.

use super::RewriteError;

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

/// One field of a protobuf message.
pub struct Field<'a> {
    /// The field number.
    pub number: u32,
    wire: u8,
    /// The payload: a length-delimited field's contents, or a varint's or fixed value's bytes.
    payload: &'a [u8],
    /// The whole field as encoded, tag included.
    pub raw: &'a [u8],
}

impl<'a> Field<'a> {
    /// The field's payload, when it is length-delimited.
    pub fn bytes(&self) -> Result<&'a [u8], RewriteError> {
        if self.wire == LEN {
            Ok(self.payload)
        } else {
            Err(RewriteError::Malformed("expected a length-delimited field"))
        }
    }

    /// The field's value, when it is a varint.
    pub fn varint(&self) -> Result<u64, RewriteError> {
        if self.wire != VARINT {
            return Err(RewriteError::Malformed("expected a varint field"));
        }
        varint(self.payload, &mut 0)
    }

    /// A repeated integer field's values, packed or not.
    pub fn varints(&self) -> Result<Vec<u64>, RewriteError> {
        match self.wire {
            VARINT => Ok(vec![self.varint()?]),
            LEN => {
                let mut values = Vec::new();
                let mut pos = 0;
                while pos < self.payload.len() {
                    values.push(varint(self.payload, &mut pos)?);
                }
                Ok(values)
            }
            _ => Err(RewriteError::Malformed("expected integers")),
        }
    }
}

/// The fields of a protobuf message, in order.
pub fn fields(message: &[u8]) -> Result<Vec<Field<'_>>, RewriteError> {
    let mut fields = Vec::new();
    let mut pos = 0;
    while pos < message.len() {
        let start = pos;
        let tag = varint(message, &mut pos)?;
        let (number, wire) = ((tag >> 3) as u32, (tag & 7) as u8);
        if number == 0 {
            return Err(RewriteError::Malformed("field number 0"));
        }
        let payload_start;
        match wire {
            VARINT => {
                payload_start = pos;
                varint(message, &mut pos)?;
            }
            FIXED64 | FIXED32 => {
                payload_start = pos;
                pos += if wire == FIXED64 { 8 } else { 4 };
            }
            LEN => {
                let len = usize::try_from(varint(message, &mut pos)?)
                    .map_err(|_| RewriteError::Malformed("a length beyond memory"))?;
                payload_start = pos;
                pos = pos.checked_add(len).ok_or(RewriteError::Malformed("a length beyond memory"))?;
            }
            _ => return Err(RewriteError::Malformed("an unsupported wire type")),
        }
        if pos > message.len() {
            return Err(RewriteError::Malformed("a field runs past the end"));
        }
        fields.push(Field { number, wire, payload: &message[payload_start..pos], raw: &message[start..pos] });
    }
    Ok(fields)
}

fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, RewriteError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*pos).ok_or(RewriteError::Malformed("a varint runs past the end"))?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(RewriteError::Malformed("a varint longer than 10 bytes"))
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends a varint field.
pub fn put_varint_field(out: &mut Vec<u8>, number: u32, value: u64) {
    put_varint(out, u64::from(number) << 3 | u64::from(VARINT));
    put_varint(out, value);
}

/// Appends a length-delimited field.
pub fn put_bytes(out: &mut Vec<u8>, number: u32, bytes: &[u8]) {
    put_varint(out, u64::from(number) << 3 | u64::from(LEN));
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}
