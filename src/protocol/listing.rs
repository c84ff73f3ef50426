//! Directory listing entries (docs/PROTOCOL_NOTES.md §4): `F<name>\t<size>[\t<mtime>]`,
//! `D<name>[\t0\t<mtime>]` and `S` placeholders, each NUL-terminated.

/// One entry of a ListDirectory / ListDirectoryWithTime reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListingEntry {
    File {
        name: String,
        size: u64,
        mtime: Option<u64>,
    },
    Directory {
        name: String,
        mtime: Option<u64>,
    },
    /// A placeholder that keeps indices stable; counts toward the offset.
    Skip,
}

/// Parse the data of a listing reply. Returns the entries and how many
/// entries count toward the next request offset (every non-empty entry,
/// `S` included; empty strings from old ArduPilot's double NULs do not count,
/// entries with unknown type letters count but are dropped, and so do `F`
/// entries whose size field is missing or not a number that fits 64 bits,
/// and entries whose name is not UTF-8).
pub fn parse_listing(data: &[u8]) -> (Vec<ListingEntry>, u32) {
    let mut entries = Vec::new();
    let mut counted = 0u32;
    for raw in data.split(|&b| b == 0) {
        if raw.is_empty() {
            continue;
        }
        counted += 1;
        let Ok(text) = std::str::from_utf8(&raw[1..]) else {
            continue;
        };
        match raw[0] {
            b'F' => {
                if let Some((name, size, mtime)) = split_file_fields(text) {
                    entries.push(ListingEntry::File { name, size, mtime });
                }
            }
            b'D' => {
                let mut parts = text.split('\t');
                let name = parts.next().unwrap_or_default().to_string();
                let mtime = parts.nth(1).and_then(|m| m.parse().ok());
                entries.push(ListingEntry::Directory { name, mtime });
            }
            b'S' => entries.push(ListingEntry::Skip),
            _ => {}
        }
    }
    (entries, counted)
}

/// Split `name\tsize[\tmtime]` taking the numeric fields from the right.
fn split_file_fields(text: &str) -> Option<(String, u64, Option<u64>)> {
    let (head, last) = text.rsplit_once('\t')?;
    let last_num: u64 = last.parse().ok()?;
    if let Some((name, size)) = head.rsplit_once('\t')
        && let Ok(size) = size.parse::<u64>()
    {
        return Some((name.to_string(), size, Some(last_num)));
    }
    Some((head.to_string(), last_num, None))
}

/// Encode one entry, NUL terminator included. `with_time` selects the
/// ListDirectoryWithTime form.
pub fn encode_listing_entry(entry: &ListingEntry, with_time: bool) -> Vec<u8> {
    let mut out = match entry {
        ListingEntry::File { name, size, mtime } => {
            if with_time {
                format!("F{name}\t{size}\t{}", mtime.unwrap_or(0))
            } else {
                format!("F{name}\t{size}")
            }
        }
        ListingEntry::Directory { name, mtime } => {
            if with_time {
                format!("D{name}\t0\t{}", mtime.unwrap_or(0))
            } else {
                format!("D{name}")
            }
        }
        ListingEntry::Skip => "S".to_string(),
    }
    .into_bytes();
    out.push(0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_files_dirs_and_skips_and_counts_skips() {
        let data = b"Fa.txt\t12\0Dlogs\0S\0Fb\t0\0";
        let (entries, counted) = parse_listing(data);
        assert_eq!(counted, 4);
        assert_eq!(
            entries,
            vec![
                ListingEntry::File {
                    name: "a.txt".into(),
                    size: 12,
                    mtime: None
                },
                ListingEntry::Directory {
                    name: "logs".into(),
                    mtime: None
                },
                ListingEntry::Skip,
                ListingEntry::File {
                    name: "b".into(),
                    size: 0,
                    mtime: None
                },
            ]
        );
    }

    #[test]
    fn empty_strings_from_double_nuls_do_not_count() {
        let (entries, counted) = parse_listing(b"Fa\t1\0\0Fb\t2\0\0");
        assert_eq!(counted, 2);
        assert_eq!(entries.len(), 2);
    }

    #[test]
    fn with_time_entries_round_trip() {
        let file = ListingEntry::File {
            name: "x".into(),
            size: 5,
            mtime: Some(1700000000),
        };
        let dir = ListingEntry::Directory {
            name: "d".into(),
            mtime: Some(42),
        };
        let mut data = encode_listing_entry(&file, true);
        data.extend(encode_listing_entry(&dir, true));
        assert_eq!(data, b"Fx\t5\t1700000000\0Dd\t0\t42\0");
        assert_eq!(parse_listing(&data).0, vec![file, dir]);
    }

    #[test]
    fn files_without_a_valid_size_count_but_are_dropped() {
        let (entries, counted) =
            parse_listing(b"Fnosize\0Fbig\t99999999999999999999999\0Fneg\t-1\0Fok\t5\0");
        assert_eq!(counted, 4);
        assert_eq!(
            entries,
            vec![ListingEntry::File {
                name: "ok".into(),
                size: 5,
                mtime: None
            }]
        );
    }

    #[test]
    fn sizes_beyond_4_gib_are_kept() {
        let (entries, _) = parse_listing(b"Fhuge\t4831838208\0");
        assert_eq!(
            entries,
            vec![ListingEntry::File {
                name: "huge".into(),
                size: 4_831_838_208,
                mtime: None
            }]
        );
    }

    #[test]
    fn names_that_are_not_utf8_count_but_are_dropped() {
        let (entries, counted) = parse_listing(b"F\xff\xfe\t1\0Dok\0");
        assert_eq!(counted, 2);
        assert_eq!(entries.len(), 1);
    }

    #[test]
    fn unknown_type_letters_count_but_are_dropped() {
        let (entries, counted) = parse_listing(b"Xweird\0Fa\t1\0");
        assert_eq!(counted, 2);
        assert_eq!(entries.len(), 1);
    }
}
