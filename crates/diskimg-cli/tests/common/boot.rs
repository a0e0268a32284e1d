//! Boot fixtures for the tests of bootable images: an isolinux tree with a FAT UEFI image,
//! and QEMU runs that watch the serial console for isolinux's message.

use super::*;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const ISOLINUX: &str = "/usr/lib/ISOLINUX/isolinux.bin";
pub const LDLINUX: &str = "/usr/lib/syslinux/modules/bios/ldlinux.c32";
/// The name isolinux is told to load: it prints "Loading diskimg-boot-ok" when it gets there.
pub const MARK: &str = "diskimg-boot-ok";

/// A tree with isolinux, its configuration and a FAT UEFI image.
pub fn boot_tree(dir: &Path) -> Option<PathBuf> {
    for f in [ISOLINUX, LDLINUX] {
        if !Path::new(f).is_file() {
            assert!(
                !strict(),
                "{f} missing: apt-get install isolinux syslinux-common"
            );
            eprintln!("skipped: {f} missing");
            return None;
        }
    }
    let (Some(mkfs), Some(mmd), Some(mcopy)) = (tool("mkfs.fat"), tool("mmd"), tool("mcopy"))
    else {
        return None;
    };
    let t = dir.join("tree");
    std::fs::create_dir_all(t.join("isolinux")).unwrap();
    std::fs::copy(ISOLINUX, t.join("isolinux/isolinux.bin")).unwrap();
    std::fs::copy(LDLINUX, t.join("isolinux/ldlinux.c32")).unwrap();
    std::fs::write(
        t.join("isolinux/isolinux.cfg"),
        format!("SERIAL 0 115200\nPROMPT 0\nDEFAULT go\nLABEL go\n  KERNEL {MARK}\n"),
    )
    .unwrap();
    std::fs::write(t.join("README.TXT"), b"a bootable fixture\n").unwrap();
    let efi = t.join("efiboot.img");
    ok(Command::new(mkfs)
        .args(["-C", "-n", "EFIBOOT"])
        .arg(&efi)
        .arg("2880"));
    ok(Command::new(mmd)
        .arg("-i")
        .arg(&efi)
        .args(["::/EFI", "::/EFI/BOOT"]));
    let loader = dir.join("BOOTX64.EFI");
    std::fs::write(&loader, b"not a real loader\n").unwrap();
    ok(Command::new(mcopy)
        .arg("-i")
        .arg(&efi)
        .arg(&loader)
        .arg("::/EFI/BOOT/"));
    Some(t)
}

/// The QEMU used for boot tests: `DISKIMG_QEMU` (set by scripts/test.sh from
/// scripts/qemu-system.sh) or `qemu-system-x86_64` on PATH.
pub fn qemu() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("DISKIMG_QEMU") {
        return Some(PathBuf::from(p));
    }
    tool("qemu-system-x86_64")
}

/// Boots `args` and waits (at most two minutes) for `want` on the serial console.
pub fn boots_to(qemu: &Path, args: &[&str], want: &str) -> Result<(), String> {
    let mut child = Command::new(qemu)
        .args([
            "-display",
            "none",
            "-serial",
            "stdio",
            "-m",
            "128",
            "-no-reboot",
            "-monitor",
            "none",
        ])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut r = BufReader::new(stdout);
        let mut line = Vec::new();
        while r
            .read_until(b'\n', &mut line)
            .map(|n| n > 0)
            .unwrap_or(false)
        {
            seen.extend_from_slice(&line);
            line.clear();
            if tx
                .send(String::from_utf8_lossy(&seen).into_owned())
                .is_err()
            {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = String::new();
    let found = loop {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(s) => {
                last = s;
                if last.contains(want) {
                    break true;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
            Err(_) => break false,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    if found { Ok(()) } else { Err(last) }
}
