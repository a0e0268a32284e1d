//! Which drives exist and which may be written (Linux: `/sys/block`, `/proc/self/mountinfo`,
//! `/proc/swaps`).
//!
//! A drive is refused when it is, or holds, anything the running system uses: a mounted file
//! system or swap on it or on one of its partitions, a device-mapper, RAID or loop device
//! built on it (`holders`), or the disk under `/`, `/boot`, `/usr`, `/var` or `/home` (found
//! through device-mapper and RAID `slaves` down to the disks). Read-only drives, empty slots
//! and partitions (write whole drives) are refused too. Fixed disks are allowed only when the
//! caller says so ([`Drive::refusal`] with `allow_fixed`).

use crate::error::{Error, ErrorKind, Result};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Mount points whose disk is the system disk.
const SYSTEM_MOUNTS: &[&str] = &["/", "/boot", "/boot/efi", "/efi", "/usr", "/var", "/home"];
/// Deepest chain of stacked devices followed (dm over md over disks ...).
const MAX_STACK: usize = 16;

/// A drive as `diskimg drives` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Drive {
    /// `/dev/sdb`.
    pub path: PathBuf,
    /// `sdb`.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Vendor and model, as the drive reports them.
    pub model: Option<String>,
    /// `usb`, `mmc`, `nvme`, `sata`, `virtio`, `loop`, ... when known.
    pub transport: Option<String>,
    /// The kernel marks the medium removable, or the drive hangs off USB or an SD slot.
    pub removable: bool,
    /// The drive refuses writes.
    pub read_only: bool,
    /// Where the drive or its partitions are mounted (and `[swap]`).
    pub mounts: Vec<String>,
    /// Devices built on top of it (`dm-0`, `md127`, `loop3`).
    pub holders: Vec<String>,
    /// It holds the running system (`/`, `/boot`, ...).
    pub system: bool,
    /// For a loop device: its backing file.
    pub backing_file: Option<PathBuf>,
}

impl Drive {
    /// Why writing to this drive is refused, if it is.
    pub fn refusal(&self, allow_fixed: bool) -> Option<String> {
        if self.system {
            return Some("it holds the running system".into());
        }
        if !self.mounts.is_empty() {
            return Some(format!(
                "it is mounted ({}); unmount it first",
                self.mounts.join(", ")
            ));
        }
        if !self.holders.is_empty() {
            return Some(format!("it is in use by {}", self.holders.join(", ")));
        }
        if self.read_only {
            return Some("it is read-only".into());
        }
        if self.size == 0 {
            return Some("it has no medium".into());
        }
        if !self.removable && !allow_fixed && self.transport.as_deref() != Some("loop") {
            return Some("it is a fixed disk (pass --allow-fixed to write it anyway)".into());
        }
        None
    }
}

/// Every block device that could be a target, with its state.
pub fn list_drives() -> Result<Vec<Drive>> {
    let mounts = Mounts::read()?;
    let mut out = Vec::new();
    let entries = fs::read_dir("/sys/block").map_err(|e| Error::from(e).with_file("/sys/block"))?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        if ["ram", "zram", "dm-", "md", "nbd", "sr"]
            .iter()
            .any(|p| name.starts_with(p))
        {
            continue;
        }
        let d = describe(&name, &mounts);
        if name.starts_with("loop") && d.backing_file.is_none() {
            continue;
        }
        out.push(d);
    }
    Ok(out)
}

/// The drive at `path`, checked: refuses partitions, non-block files and every drive
/// [`Drive::refusal`] names.
pub fn check_target(path: &Path, allow_fixed: bool) -> Result<Drive> {
    let (major, minor) = block_numbers(path)?;
    let sys = PathBuf::from(format!("/sys/dev/block/{major}:{minor}"));
    let real = fs::canonicalize(&sys).map_err(|e| Error::from(e).with_file(&sys))?;
    let name = file_name(&real);
    if real.join("partition").exists() {
        let parent = real.parent().map(file_name).unwrap_or_default();
        return Err(refused(
            path,
            &format!("it is a partition of /dev/{parent}; write to the whole drive"),
        ));
    }
    let mounts = Mounts::read()?;
    let d = describe(&name, &mounts);
    match d.refusal(allow_fixed) {
        Some(why) => Err(refused(path, &why)),
        None => Ok(d),
    }
}

fn refused(path: &Path, why: &str) -> Error {
    Error::new(ErrorKind::InvalidInput, format!("refusing to write: {why}")).with_file(path)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Major and minor numbers of a block device node.
pub fn block_numbers(path: &Path) -> Result<(u32, u32)> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let m = fs::metadata(path).map_err(|e| Error::from(e).with_file(path))?;
    if !m.file_type().is_block_device() {
        return Err(Error::invalid_input("not a block device").with_file(path));
    }
    let rdev = m.rdev();
    Ok((libc::major(rdev), libc::minor(rdev)))
}

fn read_trim(p: impl AsRef<Path>) -> Option<String> {
    fs::read_to_string(p)
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn describe(name: &str, mounts: &Mounts) -> Drive {
    let sys = PathBuf::from("/sys/block").join(name);
    let real = fs::canonicalize(&sys).unwrap_or_else(|_| sys.clone());
    let size = read_trim(sys.join("size"))
        .and_then(|s| s.parse::<u64>().ok())
        .map_or(0, |s| s.saturating_mul(512));
    let model = match (
        read_trim(sys.join("device/vendor")),
        read_trim(sys.join("device/model")),
    ) {
        (Some(v), Some(m)) => Some(format!("{v} {m}")),
        (v, m) => v.or(m),
    };
    let real_s = real.to_string_lossy();
    let transport = if name.starts_with("loop") {
        Some("loop".to_owned())
    } else if real_s.contains("/usb") {
        Some("usb".to_owned())
    } else if name.starts_with("mmcblk") {
        Some("mmc".to_owned())
    } else if name.starts_with("nvme") {
        Some("nvme".to_owned())
    } else if real_s.contains("/virtio") {
        Some("virtio".to_owned())
    } else if real_s.contains("/ata") {
        Some("sata".to_owned())
    } else {
        None
    };
    let removable = read_trim(sys.join("removable")).as_deref() == Some("1")
        || matches!(transport.as_deref(), Some("usb" | "mmc"));
    let read_only = read_trim(sys.join("ro")).as_deref() == Some("1");
    // The drive itself and its partitions.
    let mut parts = vec![sys.clone()];
    if let Ok(rd) = fs::read_dir(&sys) {
        for e in rd.flatten() {
            if e.path().join("partition").exists() {
                parts.push(e.path());
            }
        }
    }
    let mut mount_list = Vec::new();
    let mut holders = BTreeSet::new();
    for p in &parts {
        if let Some(dev) = read_trim(p.join("dev")) {
            if let Some(m) = mounts.by_dev.get(&dev) {
                mount_list.extend(m.iter().cloned());
            }
        }
        if let Ok(rd) = fs::read_dir(p.join("holders")) {
            holders.extend(
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned()),
            );
        }
    }
    // Mounts of devices stacked on this drive (LVM, RAID) count as its own.
    if !holders.is_empty() {
        for (dev, on) in &mounts.by_dev {
            if mounts.leaves(dev).contains(name) {
                mount_list.extend(on.iter().cloned());
            }
        }
    }
    mount_list.sort();
    mount_list.dedup();
    let system = mounts.system_disks.contains(name);
    Drive {
        path: PathBuf::from("/dev").join(name),
        name: name.to_owned(),
        size,
        model,
        transport,
        removable,
        read_only,
        mounts: mount_list,
        holders: holders.into_iter().collect(),
        system,
        backing_file: read_trim(sys.join("loop/backing_file")).map(PathBuf::from),
    }
}

/// What is mounted, by `major:minor`, and which disks hold the system.
struct Mounts {
    by_dev: BTreeMap<String, Vec<String>>,
    system_disks: BTreeSet<String>,
}

impl Mounts {
    fn read() -> Result<Mounts> {
        let text = fs::read_to_string("/proc/self/mountinfo")
            .or_else(|_| fs::read_to_string("/proc/mounts"))
            .map_err(|e| Error::from(e).with_file("/proc/self/mountinfo"))?;
        let mut by_dev: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (dev, mount_point) in parse_mountinfo(&text) {
            by_dev.entry(dev).or_default().push(mount_point);
        }
        if let Ok(swaps) = fs::read_to_string("/proc/swaps") {
            for line in swaps.lines().skip(1) {
                if let Some(p) = line.split_whitespace().next() {
                    if let Ok((ma, mi)) = block_numbers(Path::new(p)) {
                        by_dev
                            .entry(format!("{ma}:{mi}"))
                            .or_default()
                            .push("[swap]".into());
                    }
                }
            }
        }
        let mut m = Mounts {
            by_dev,
            system_disks: BTreeSet::new(),
        };
        let mut system = BTreeSet::new();
        for (dev, on) in &m.by_dev {
            if on
                .iter()
                .any(|p| SYSTEM_MOUNTS.contains(&p.as_str()) || p == "[swap]")
            {
                system.extend(m.leaves(dev));
            }
        }
        m.system_disks = system;
        Ok(m)
    }

    /// The whole disks under device `major:minor`, through partitions and stacked devices.
    fn leaves(&self, dev: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let start = PathBuf::from(format!("/sys/dev/block/{dev}"));
        if let Ok(p) = fs::canonicalize(&start) {
            disks_under(&p, 0, &mut out);
        }
        out
    }
}

fn disks_under(p: &Path, depth: usize, out: &mut BTreeSet<String>) {
    if depth > MAX_STACK {
        return;
    }
    let mut had_slave = false;
    if let Ok(rd) = fs::read_dir(p.join("slaves")) {
        for e in rd.flatten() {
            if let Ok(s) = fs::canonicalize(e.path()) {
                had_slave = true;
                disks_under(&s, depth + 1, out);
            }
        }
    }
    if had_slave {
        return;
    }
    let disk = if p.join("partition").exists() {
        p.parent().map(Path::to_path_buf)
    } else {
        Some(p.to_path_buf())
    };
    if let Some(d) = disk {
        out.insert(file_name(&d));
    }
}

/// `(major:minor, mount point)` of each line of `/proc/self/mountinfo` (or `/proc/mounts`,
/// whose lines have no numbers and are skipped).
fn parse_mountinfo(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let dev = *f.get(2)?;
            let mount_point = unescape(f.get(4)?);
            (dev.contains(':') && !dev.starts_with("0:")).then(|| (dev.to_owned(), mount_point))
        })
        .collect()
}

/// Mount points escape space, tab, newline and backslash as octal (`\040`).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines() {
        let t = "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n\
                 22 27 0:21 / /proc rw - proc proc rw\n\
                 90 27 8:17 / /media/my\\040stick rw - vfat /dev/sdb1 rw\n";
        assert_eq!(
            parse_mountinfo(t),
            vec![
                ("254:0".to_owned(), "/".to_owned()),
                ("8:17".to_owned(), "/media/my stick".to_owned())
            ]
        );
    }

    #[test]
    fn refusals_in_order_of_danger() {
        let mut d = Drive {
            path: "/dev/sdz".into(),
            name: "sdz".into(),
            size: 1 << 30,
            model: None,
            transport: Some("usb".into()),
            removable: true,
            read_only: false,
            mounts: vec![],
            holders: vec![],
            system: false,
            backing_file: None,
        };
        assert_eq!(d.refusal(false), None);
        d.removable = false;
        d.transport = None;
        assert!(d.refusal(false).unwrap().contains("fixed"));
        assert_eq!(d.refusal(true), None);
        d.mounts.push("/media/x".into());
        assert!(d.refusal(true).unwrap().contains("mounted"));
        d.system = true;
        assert!(d.refusal(true).unwrap().contains("system"));
    }
}
