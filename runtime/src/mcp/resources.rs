//! Resources this server offers over MCP (`resources/list`, `resources/read`): texts and files a
//! tool made for the client to read later, such as a parsed bill's rows as UTF-8 CSV.
//!
//! Registering one is a call to [`Resources::add`] with a [`NewResource`]; the returned
//! [`Resource`] goes into the tool's result as a `resource_link` (see
//! [`crate::mcp::server::to_result`]). The newest [`KEPT`] are kept; an older file is deleted.
//! A text file larger than one answer carries ([`MAX_READ_BYTES`]) is read in parts,
//! `<uri>?part=1` … `?part=N`, cut at line ends, each beginning with the file's first (header)
//! line.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rmcp::model::Resource;

/// How many resources are kept (oldest dropped first).
pub const KEPT: usize = 32;
/// The largest resource sent in one `resources/read` answer (stdio lines are capped at 16 MiB).
pub const MAX_READ_BYTES: u64 = 8 * 1024 * 1024;

/// A file deleted when dropped.
#[derive(Debug)]
pub struct TempFile {
    path: PathBuf,
}

impl TempFile {
    /// A new, not yet created path in the system's temp folder: `zhifu-<tag>-<pid>-<random>`.
    pub fn new(tag: &str) -> TempFile {
        let name = format!(
            "zhifu-{tag}-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        );
        TempFile {
            path: std::env::temp_dir().join(name),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Where a resource's text lives.
#[derive(Debug)]
pub enum Content {
    Text(String),
    /// A UTF-8 file owned by the resource.
    File(TempFile),
}

/// What a tool registers.
#[derive(Debug)]
pub struct NewResource {
    /// `zhifu://…`; made unique by [`Resources::add`].
    pub uri: String,
    pub name: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub mime_type: &'static str,
    pub content: Content,
}

struct Entry {
    resource: Resource,
    content: Content,
    /// A large file's parts: where each part's lines start in the file, then its end; empty
    /// when it is read whole.
    parts: Vec<u64>,
    /// Bytes of the first line (with its LF), repeated at the top of every part after the first.
    header: u64,
}

/// The registry (one per engine).
#[derive(Default)]
pub struct Resources {
    entries: Mutex<VecDeque<Entry>>,
}

/// Why a resource could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadError {
    NotFound,
    /// Too large for one answer: its size and how many parts it is read in (0 = not at all).
    TooLarge(u64, usize),
    Io(String),
}

/// Where the parts of the CSV or text file `path` start (then its end), each part at most
/// [`MAX_READ_BYTES`] with the header line (the first) in front of it (a single longer row makes
/// a longer part); the header's length.
fn cut_into_parts(path: &Path, size: u64) -> std::io::Result<(Vec<u64>, u64)> {
    use std::io::{BufRead, BufReader};
    let mut reader = BufReader::with_capacity(256 * 1024, std::fs::File::open(path)?);
    let mut line = Vec::new();
    let header = reader.read_until(b'\n', &mut line)? as u64;
    let budget = MAX_READ_BYTES.saturating_sub(header).max(1);
    let mut parts = vec![header];
    let (mut at, mut quoted) = (header, false);
    loop {
        // Every line of this part: a part ends before the line that would pass the budget, but
        // never inside a quoted cell that holds a line break (a CSV row is whole in one part).
        let start = *parts.last().unwrap_or(&header);
        line.clear();
        let n = reader.read_until(b'\n', &mut line)? as u64;
        if n == 0 {
            break;
        }
        if !quoted && at + n - start > budget && at > start {
            parts.push(at);
        }
        at += n;
        quoted ^= line.iter().filter(|b| **b == b'"').count() % 2 == 1;
    }
    parts.push(size.max(at));
    Ok((parts, header))
}

impl Resources {
    /// Registers `new` and returns it as listed (URI, name, MIME type, size).
    pub fn add(&self, new: NewResource) -> Resource {
        let size = match &new.content {
            Content::Text(t) => t.len() as u64,
            Content::File(f) => std::fs::metadata(f.path()).map_or(0, |m| m.len()),
        };
        let (parts, header) = match &new.content {
            Content::File(f) if size > MAX_READ_BYTES => {
                cut_into_parts(f.path(), size).unwrap_or_else(|e| {
                    // Not fatal: the resource is listed, and a read says it is too large to send.
                    tracing::warn!(uri = %new.uri, error = %e, "could not cut a large resource into parts");
                    Default::default()
                })
            }
            _ => (Vec::new(), 0),
        };
        let mut description = new.description;
        if parts.len() > 1 {
            let n = parts.len() - 1;
            let how = format!(
                "Larger than one answer carries ({MAX_READ_BYTES} bytes): read it as {uri}?part=1 to {uri}?part={n}, each beginning with the header line.",
                uri = new.uri
            );
            description = Some(match description {
                Some(d) => format!("{d} {how}"),
                None => how,
            });
        }
        let mut resource = Resource::new(new.uri, new.name)
            .with_mime_type(new.mime_type)
            .with_size(size);
        resource.title = new.title;
        resource.description = description;
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|e| e.resource.uri != resource.uri);
        entries.push_back(Entry {
            resource: resource.clone(),
            content: new.content,
            parts,
            header,
        });
        while entries.len() > KEPT {
            entries.pop_front();
        }
        resource
    }

    /// Every resource, oldest first.
    pub fn list(&self) -> Vec<Resource> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.iter().map(|e| e.resource.clone()).collect()
    }

    /// How many parts the resource `uri` is read in (0: read whole).
    pub fn parts(&self, uri: &str) -> usize {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .iter()
            .find(|e| e.resource.uri == uri)
            .map_or(0, |e| e.parts.len().saturating_sub(1))
    }

    /// The text of `uri` (or of `<uri>?part=N` of a large file), with its MIME type.
    pub fn read(&self, uri: &str) -> Result<(String, Option<String>), ReadError> {
        let (base, part) = match uri.rsplit_once("?part=") {
            Some((base, n)) => (base, Some(n)),
            None => (uri, None),
        };
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries
            .iter()
            .find(|e| e.resource.uri == base)
            .ok_or(ReadError::NotFound)?;
        let mime = entry.resource.mime_type.clone();
        let size = entry.resource.size.unwrap_or(0);
        let parts = entry.parts.len().saturating_sub(1);
        let text = match (&entry.content, part) {
            (_, None) if size > MAX_READ_BYTES => return Err(ReadError::TooLarge(size, parts)),
            (Content::Text(t), None) => t.clone(),
            (Content::File(f), None) => {
                std::fs::read_to_string(f.path()).map_err(|e| ReadError::Io(e.to_string()))?
            }
            (Content::File(f), Some(n)) => {
                let k = n.parse::<usize>().ok().filter(|k| (1..=parts).contains(k));
                let k = k.ok_or(ReadError::NotFound)?;
                read_part(f.path(), entry.header, entry.parts[k - 1], entry.parts[k])
                    .map_err(|e| ReadError::Io(e.to_string()))?
            }
            (Content::Text(_), Some(_)) => return Err(ReadError::NotFound),
        };
        Ok((text, mime))
    }
}

/// The header line, then the lines in `from..to`, of the file at `path`.
fn read_part(path: &Path, header: u64, from: u64, to: u64) -> std::io::Result<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    let mut bytes = vec![0; (header + to - from) as usize];
    let (head, body) = bytes.split_at_mut(header as usize);
    file.read_exact(head)?;
    file.seek(SeekFrom::Start(from))?;
    file.read_exact(body)?;
    String::from_utf8(bytes).map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_read_listed_and_deleted_when_evicted() {
        let resources = Resources::default();
        let file = TempFile::new("test");
        std::fs::write(file.path(), "a,b\n商品,退款\n").unwrap();
        let path = file.path().to_path_buf();
        let r = resources.add(NewResource {
            uri: "zhifu://test/0.csv".into(),
            name: "t.csv".into(),
            title: None,
            description: None,
            mime_type: "text/csv",
            content: Content::File(file),
        });
        assert_eq!(r.size, Some("a,b\n商品,退款\n".len() as u64));
        assert_eq!(
            resources.read("zhifu://test/0.csv").unwrap().0,
            "a,b\n商品,退款\n"
        );
        assert_eq!(resources.read("zhifu://nope"), Err(ReadError::NotFound));
        for i in 1..=KEPT {
            resources.add(NewResource {
                uri: format!("zhifu://test/{i}"),
                name: "x".into(),
                title: None,
                description: None,
                mime_type: "text/plain",
                content: Content::Text(String::new()),
            });
        }
        assert_eq!(resources.list().len(), KEPT);
        assert!(!path.exists(), "the evicted file is deleted");
    }

    #[test]
    fn a_large_file_is_read_in_parts_that_add_up_to_it() {
        let resources = Resources::default();
        let file = TempFile::new("test-parts");
        let mut text = String::from("商品,金额\n");
        let mut i = 0u64;
        while text.len() < 2 * MAX_READ_BYTES as usize + 12_345 {
            text.push_str(&format!("商品{i},{}.{:02}\n", i % 977, i % 100));
            i += 1;
        }
        std::fs::write(file.path(), &text).unwrap();
        let r = resources.add(NewResource {
            uri: "zhifu://test/big.csv".into(),
            name: "big.csv".into(),
            title: None,
            description: Some("Rows.".into()),
            mime_type: "text/csv",
            content: Content::File(file),
        });
        let uri = "zhifu://test/big.csv";
        assert_eq!(resources.parts(uri), 3);
        assert!(
            r.description.as_deref().unwrap().contains("?part=3"),
            "{r:?}"
        );
        assert_eq!(
            resources.read(uri),
            Err(ReadError::TooLarge(text.len() as u64, 3))
        );
        let mut joined = String::new();
        for k in 1..=3 {
            let (part, mime) = resources.read(&format!("{uri}?part={k}")).unwrap();
            assert_eq!(mime.as_deref(), Some("text/csv"));
            assert!(
                part.len() as u64 <= MAX_READ_BYTES,
                "part {k}: {}",
                part.len()
            );
            let body = part.strip_prefix("商品,金额\n").expect("the header first");
            assert!(body.ends_with('\n'), "part {k} ends at a line end");
            joined.push_str(body);
        }
        assert_eq!(format!("商品,金额\n{joined}"), text);
        for bad in ["0", "4", "x", ""] {
            assert_eq!(
                resources.read(&format!("{uri}?part={bad}")),
                Err(ReadError::NotFound),
                "{bad}"
            );
        }
    }
}
