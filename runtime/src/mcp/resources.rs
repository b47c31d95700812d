//! Resources this server offers over MCP (`resources/list`, `resources/read`): texts and files a
//! tool made for the client to read later, such as a parsed bill's rows as UTF-8 CSV.
//!
//! Registering one is a call to [`Resources::add`] with a [`NewResource`]; the returned
//! [`Resource`] goes into the tool's result as a `resource_link` (see
//! [`crate::mcp::server::to_result`]). The newest [`KEPT`] are kept; an older file is deleted.

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
    TooLarge(u64),
    Io(String),
}

impl Resources {
    /// Registers `new` and returns it as listed (URI, name, MIME type, size).
    pub fn add(&self, new: NewResource) -> Resource {
        let size = match &new.content {
            Content::Text(t) => t.len() as u64,
            Content::File(f) => std::fs::metadata(f.path()).map_or(0, |m| m.len()),
        };
        let mut resource = Resource::new(new.uri, new.name)
            .with_mime_type(new.mime_type)
            .with_size(size);
        resource.title = new.title;
        resource.description = new.description;
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|e| e.resource.uri != resource.uri);
        entries.push_back(Entry {
            resource: resource.clone(),
            content: new.content,
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

    /// The text of `uri`, with its MIME type.
    pub fn read(&self, uri: &str) -> Result<(String, Option<String>), ReadError> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries
            .iter()
            .find(|e| e.resource.uri == uri)
            .ok_or(ReadError::NotFound)?;
        let size = entry.resource.size.unwrap_or(0);
        if size > MAX_READ_BYTES {
            return Err(ReadError::TooLarge(size));
        }
        let text = match &entry.content {
            Content::Text(t) => t.clone(),
            Content::File(f) => {
                std::fs::read_to_string(f.path()).map_err(|e| ReadError::Io(e.to_string()))?
            }
        };
        Ok((text, entry.resource.mime_type.clone()))
    }
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
}
