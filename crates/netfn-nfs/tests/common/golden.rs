//! Golden pcaps: the committed captures under `tests/golden/<nf>/`, read
//! and compared frame by frame, or written when `UPDATE_GOLDEN` is set.

use std::path::PathBuf;

/// The golden directory of one NF's tests.
pub struct Golden {
    dir: PathBuf,
    update: bool,
}

impl Golden {
    /// `tests/golden/<nf>`; regenerating if `UPDATE_GOLDEN` is set.
    pub fn new(nf: &str) -> Self {
        Golden {
            dir: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/golden")
                .join(nf),
            update: std::env::var_os("UPDATE_GOLDEN").is_some(),
        }
    }

    /// The path of `file` in the directory.
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// Whether the captures are being (re)written.
    pub fn updating(&self) -> bool {
        self.update
    }

    /// The committed input capture `file`, which must equal what the test
    /// generates (`UPDATE_GOLDEN` writes `generated` first).
    pub fn committed(&self, file: &str, generated: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let path = self.path(file);
        if self.update {
            std::fs::create_dir_all(&self.dir).unwrap();
            netfn_ports::pcap::write_frames(&path, generated).unwrap();
        }
        let committed = netfn_ports::pcap::read_frames(&path).unwrap();
        assert_eq!(
            committed, generated,
            "{file}: committed input differs from the generator"
        );
        committed
    }

    /// Checks `got` against the committed output capture `file`, frame by
    /// frame (`UPDATE_GOLDEN` writes `got` first).
    pub fn compare(&self, file: &str, got: &[Vec<u8>]) {
        let path = self.path(file);
        if self.update {
            std::fs::create_dir_all(&self.dir).unwrap();
            netfn_ports::pcap::write_frames(&path, got).unwrap();
        }
        let want = netfn_ports::pcap::read_frames(&path).unwrap();
        assert_eq!(got.len(), want.len(), "{}: frame count", path.display());
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "{}: frame {i} differs", path.display());
        }
    }
}

/// The frames as the byte slices `Harness::process_bytes` takes.
pub fn refs(frames: &[Vec<u8>]) -> Vec<&[u8]> {
    frames.iter().map(|f| f.as_slice()).collect()
}
