//! A minimal ZIP writer whose entry names are raw bytes and whose "language encoding" flag
//! (bit 11) is never set — what Alipay bill archives look like (GBK names, alipay.md §8) and what
//! the `zip` crate's writer cannot produce: [`stored_zip`] in memory, and [`ZipStream`], which
//! deflates entries as they are written (a bill of a million rows never sits in memory).

use std::io::{self, Write};

use flate2::Compression;
use flate2::write::DeflateEncoder;

/// MS-DOS time and date of a local time `(y, mo, d, h, mi, s)`.
fn dos_time(t: (u16, u16, u16, u16, u16, u16)) -> (u16, u16) {
    let (y, mo, d, h, mi, s) = t;
    let time = (h << 11) | (mi << 5) | (s / 2);
    let date = (y.saturating_sub(1980) << 9) | (mo << 5) | d;
    (time, date)
}

/// Counts the bytes written through it.
struct Counting<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// CRC-32 and length of what goes through it (the uncompressed data).
pub struct EntryWriter<'a> {
    inner: DeflateEncoder<&'a mut dyn Write>,
    crc: crc32fast::Hasher,
    len: u64,
}

impl Write for EntryWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A ZIP written entry after entry to `W`, each entry deflated as it is written; sizes and CRC
/// follow each entry in a data descriptor (bit 3) and in the central directory.
pub struct ZipStream<W: Write> {
    out: Counting<W>,
    central: Vec<u8>,
    count: u16,
    time: u16,
    date: u16,
}

impl<W: Write> ZipStream<W> {
    pub fn new(out: W, modified: (u16, u16, u16, u16, u16, u16)) -> Self {
        let (time, date) = dos_time(modified);
        ZipStream {
            out: Counting {
                inner: out,
                count: 0,
            },
            central: Vec::new(),
            count: 0,
            time,
            date,
        }
    }

    /// Adds one entry named `name` (raw bytes) whose content `fill` writes.
    pub fn entry(
        &mut self,
        name: &[u8],
        fill: impl FnOnce(&mut EntryWriter<'_>) -> io::Result<()>,
    ) -> io::Result<()> {
        let offset = self.out.count as u32;
        let (time, date) = (self.time, self.date);
        let name_len = name.len() as u16;
        let mut header = Vec::with_capacity(30 + name.len());
        header.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        header.extend_from_slice(&20u16.to_le_bytes());
        header.extend_from_slice(&8u16.to_le_bytes()); // flags: data descriptor, no UTF-8 bit
        header.extend_from_slice(&8u16.to_le_bytes()); // method: deflate
        header.extend_from_slice(&time.to_le_bytes());
        header.extend_from_slice(&date.to_le_bytes());
        header.extend_from_slice(&[0; 12]); // CRC and sizes: in the descriptor
        header.extend_from_slice(&name_len.to_le_bytes());
        header.extend_from_slice(&0u16.to_le_bytes());
        header.extend_from_slice(name);
        self.out.write_all(&header)?;
        let start = self.out.count;
        let (crc, len) = {
            let sink: &mut dyn Write = &mut self.out;
            let mut w = EntryWriter {
                inner: DeflateEncoder::new(sink, Compression::fast()),
                crc: crc32fast::Hasher::new(),
                len: 0,
            };
            fill(&mut w)?;
            let EntryWriter { inner, crc, len } = w;
            inner.finish()?;
            (crc.finalize(), len as u32)
        };
        let compressed = (self.out.count - start) as u32;
        let mut descriptor = Vec::with_capacity(16);
        descriptor.extend_from_slice(&0x0807_4b50u32.to_le_bytes());
        descriptor.extend_from_slice(&crc.to_le_bytes());
        descriptor.extend_from_slice(&compressed.to_le_bytes());
        descriptor.extend_from_slice(&len.to_le_bytes());
        self.out.write_all(&descriptor)?;
        let c = &mut self.central;
        c.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        c.extend_from_slice(&20u16.to_le_bytes());
        c.extend_from_slice(&20u16.to_le_bytes());
        c.extend_from_slice(&8u16.to_le_bytes());
        c.extend_from_slice(&8u16.to_le_bytes());
        c.extend_from_slice(&time.to_le_bytes());
        c.extend_from_slice(&date.to_le_bytes());
        c.extend_from_slice(&crc.to_le_bytes());
        c.extend_from_slice(&compressed.to_le_bytes());
        c.extend_from_slice(&len.to_le_bytes());
        c.extend_from_slice(&name_len.to_le_bytes());
        c.extend_from_slice(&[0; 12]); // extra, comment, disk, internal and external attributes
        c.extend_from_slice(&offset.to_le_bytes());
        c.extend_from_slice(name);
        self.count += 1;
        Ok(())
    }

    /// Writes the central directory; returns the sink.
    pub fn finish(mut self) -> io::Result<W> {
        let cd_offset = self.out.count as u32;
        let central = std::mem::take(&mut self.central);
        self.out.write_all(&central)?;
        let mut end = Vec::with_capacity(22);
        end.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        end.extend_from_slice(&[0; 4]);
        end.extend_from_slice(&self.count.to_le_bytes());
        end.extend_from_slice(&self.count.to_le_bytes());
        end.extend_from_slice(&(central.len() as u32).to_le_bytes());
        end.extend_from_slice(&cd_offset.to_le_bytes());
        end.extend_from_slice(&0u16.to_le_bytes());
        self.out.write_all(&end)?;
        self.out.flush()?;
        Ok(self.out.inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let mut zip = ZipStream::new(Vec::new(), (2024, 1, 2, 9, 30, 10));
        zip.entry(b"a.csv", |w| w.write_all(b"hello")).unwrap();
        let zip = zip.finish().unwrap();
        assert_eq!(&zip[..4], b"PK\x03\x04");
        assert_eq!(
            u16::from_le_bytes([zip[6], zip[7]]),
            8,
            "descriptor, no UTF-8 flag"
        );
        assert_eq!(&zip[30..35], b"a.csv");
        assert_eq!(&zip[zip.len() - 22..zip.len() - 18], b"PK\x05\x06");
    }

    #[test]
    fn streamed_entries_read_back() {
        use std::io::Read;
        let mut zip = ZipStream::new(Vec::new(), (2024, 1, 2, 9, 30, 10));
        zip.entry("明细.csv".as_bytes(), |w| {
            w.write_all(&b"a,b\r\n".repeat(1000))
        })
        .unwrap();
        zip.entry(b"b.csv", |w| w.write_all(b"x")).unwrap();
        let bytes = zip.finish().unwrap();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut text = String::new();
        archive
            .by_index(0)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "a,b\r\n".repeat(1000));
        assert_eq!(archive.by_index(1).unwrap().name_raw(), b"b.csv");
    }
}
