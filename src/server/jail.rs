//! The root jail: every wire path is resolved against the served root by path
//! components, following symlinks, and refused when it would leave the root.
//!
//! Rules: a leading `/` (or none) means the root; `.` and empty components are
//! ignored; `..` moves to the physical parent and is refused at the root (it
//! never clamps); every symlink met on the way (including the final component)
//! must resolve inside the root, otherwise the path is refused; trailing NUL
//! bytes (C terminators) are ignored, an inner NUL is refused; more than
//! [`MAX_PATH_LEN`] bytes, an empty path and invalid UTF-8 are refused.
//! "Inside" is decided by path components, so a sibling `/root2` is never
//! inside `/root`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::protocol::{MAX_PATH_LEN, NakCode};

/// Why a wire path was refused or could not be resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JailError {
    /// The path is empty.
    Empty,
    /// The path is longer than [`MAX_PATH_LEN`] bytes.
    TooLong,
    /// The path contains a NUL byte before its end.
    Nul,
    /// The path is not valid UTF-8.
    NotUtf8,
    /// The path (through `..` or a symlink) would leave the root.
    Escapes,
    /// A component does not exist.
    NotFound,
    /// Another filesystem error (errno).
    Io(i32),
}

impl JailError {
    /// The NAK code (and errno for FailErrno) that answers this error.
    pub fn nak(self) -> (NakCode, u8) {
        match self {
            JailError::Empty | JailError::TooLong | JailError::Nul | JailError::NotUtf8 => {
                (NakCode::Fail, 0)
            }
            JailError::Escapes => (NakCode::FileProtected, 0),
            JailError::NotFound => (NakCode::FileNotFound, 0),
            JailError::Io(errno) => (NakCode::FailErrno, errno.clamp(0, 255) as u8),
        }
    }
}

/// How the final component is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalMode {
    /// The target must exist; a final symlink is followed (result canonical).
    Follow,
    /// The target must exist; a final symlink is not followed (the link itself
    /// is the result) but must still point inside the root.
    NoFollow,
    /// The target may not exist yet (its parent must); an existing final
    /// symlink is followed and must point inside the root; a dangling one is refused.
    Create,
}

/// A wire path resolved inside the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The physical path (canonical except for a not-followed or new final component).
    pub path: PathBuf,
    /// Whether the target exists.
    pub exists: bool,
    /// Whether the target is the root itself.
    pub is_root: bool,
}

/// A root directory that wire paths are resolved against.
#[derive(Debug, Clone)]
pub struct RootJail {
    root: PathBuf,
}

/// The errno of an I/O error (EIO when unknown).
pub fn errno_of(err: &io::Error) -> i32 {
    err.raw_os_error().unwrap_or(libc::EIO)
}

impl RootJail {
    /// A jail over `root`, which must exist and be a directory.
    pub fn new(root: &Path) -> io::Result<RootJail> {
        let root = fs::canonicalize(root)?;
        if !fs::metadata(&root)?.is_dir() {
            return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
        }
        Ok(RootJail { root })
    }

    /// The canonical root directory.
    #[cfg(test)]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether a canonical path is the root or below it (by components).
    pub fn contains(&self, canonical: &Path) -> bool {
        canonical.starts_with(&self.root)
    }

    /// Check the text rules of a wire path and return it as a string.
    pub fn check_text(wire: &[u8]) -> Result<&str, JailError> {
        let mut end = wire.len();
        while end > 0 && wire[end - 1] == 0 {
            end -= 1;
        }
        let bytes = &wire[..end];
        if bytes.is_empty() {
            return Err(JailError::Empty);
        }
        if bytes.contains(&0) {
            return Err(JailError::Nul);
        }
        if bytes.len() > MAX_PATH_LEN {
            return Err(JailError::TooLong);
        }
        std::str::from_utf8(bytes).map_err(|_| JailError::NotUtf8)
    }

    /// Resolve a wire path (raw bytes from the packet) inside the root.
    pub fn resolve(&self, wire: &[u8], mode: FinalMode) -> Result<Resolved, JailError> {
        let text = Self::check_text(wire)?;
        let comps: Vec<&str> = text
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        let mut cur = self.root.clone();
        let mut exists = true;
        let count = comps.len();
        for (i, comp) in comps.iter().enumerate() {
            let last = i + 1 == count;
            if *comp == ".." {
                if cur == self.root {
                    return Err(JailError::Escapes);
                }
                // `cur` is canonical here (a not-followed final component is
                // always last), so popping is the physical parent.
                cur.pop();
                continue;
            }
            let candidate = cur.join(comp);
            match fs::symlink_metadata(&candidate) {
                Ok(md) if md.file_type().is_symlink() => match fs::canonicalize(&candidate) {
                    Ok(target) => {
                        if !self.contains(&target) {
                            return Err(JailError::Escapes);
                        }
                        cur = if last && mode == FinalMode::NoFollow {
                            candidate
                        } else {
                            target
                        };
                    }
                    Err(_) => {
                        return Err(if last && mode != FinalMode::Create {
                            JailError::NotFound
                        } else {
                            // A dangling link could point anywhere: never create through it.
                            JailError::Escapes
                        });
                    }
                },
                Ok(_) => cur = candidate,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    if last && mode == FinalMode::Create {
                        cur = candidate;
                        exists = false;
                    } else {
                        return Err(JailError::NotFound);
                    }
                }
                Err(e) => return Err(JailError::Io(errno_of(&e))),
            }
        }
        let is_root = cur == self.root;
        Ok(Resolved {
            path: cur,
            exists,
            is_root,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_inside_and_refuses_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir_all(root.join("a")).unwrap();
        fs::create_dir_all(dir.path().join("root2")).unwrap();
        fs::write(root.join("a/f"), b"x").unwrap();
        let jail = RootJail::new(&root).unwrap();
        let r = jail.resolve(b"/a/f", FinalMode::Follow).unwrap();
        assert!(r.exists && !r.is_root);
        assert!(jail.resolve(b"/", FinalMode::Follow).unwrap().is_root);
        assert!(jail.resolve(b"a/..", FinalMode::Follow).unwrap().is_root);
        assert_eq!(
            jail.resolve(b"/..", FinalMode::Follow),
            Err(JailError::Escapes)
        );
        assert_eq!(
            jail.resolve(b"a/../../root2", FinalMode::Follow),
            Err(JailError::Escapes)
        );
        assert_eq!(jail.resolve(b"", FinalMode::Follow), Err(JailError::Empty));
        assert_eq!(
            jail.resolve(b"a\0b", FinalMode::Follow),
            Err(JailError::Nul)
        );
        assert!(jail.resolve(b"/a/f\0", FinalMode::Follow).is_ok());
        assert_eq!(
            jail.resolve(b"\xff", FinalMode::Follow),
            Err(JailError::NotUtf8)
        );
        assert_eq!(
            jail.resolve(&[b'a'; 239], FinalMode::Create),
            Err(JailError::TooLong)
        );
        assert_eq!(
            jail.resolve(b"/nope/x", FinalMode::Create),
            Err(JailError::NotFound)
        );
        let new = jail.resolve(b"/a/new", FinalMode::Create).unwrap();
        assert!(!new.exists);
        std::os::unix::fs::symlink(dir.path().join("root2"), root.join("out")).unwrap();
        assert_eq!(
            jail.resolve(b"/out/x", FinalMode::Create),
            Err(JailError::Escapes)
        );
        assert_eq!(
            jail.resolve(b"/out", FinalMode::NoFollow),
            Err(JailError::Escapes)
        );
        std::os::unix::fs::symlink(root.join("a"), root.join("in")).unwrap();
        assert_eq!(
            jail.resolve(b"/in/f", FinalMode::Follow).unwrap().path,
            jail.root().join("a/f")
        );
    }
}
