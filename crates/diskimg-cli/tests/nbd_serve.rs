//! `diskimg serve nbd` read and written by real clients: qemu-img (convert, compare, info)
//! with nbd:// URLs, qemu-io, and libnbd's nbdinfo and nbdcopy; several clients at once; a
//! client that disconnects in the middle of a request; overlays that leave the image
//! untouched; Ctrl-C.

mod common;

use common::*;
use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A running server, stopped with SIGINT on drop.
struct Server {
    child: Option<Child>,
    url: String,
    addr: String,
}

impl Server {
    fn start(image: &Path, args: &[&str]) -> Server {
        let mut child = diskimg()
            .args(["serve", "nbd"])
            .arg(image)
            .args(["--listen", "127.0.0.1:0", "--quiet"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line.trim().to_owned();
        assert!(url.starts_with("nbd://"), "no URL: {url:?}");
        let addr = url["nbd://".len()..].split('/').next().unwrap().to_owned();
        Server {
            child: Some(child),
            url,
            addr,
        }
    }

    /// Stops the server as Ctrl-C does; returns whether it exited cleanly.
    fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        ok(Command::new("kill").arg("-INT").arg(child.id().to_string()));
        child.wait().unwrap().success()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn fixture(name: &str) -> Option<PathBuf> {
    let dir = fixtures("mount-serve")?;
    for t in ["qemu-img", "qemu-io", "nbdinfo", "nbdcopy"] {
        tool(t)?;
    }
    Some(dir.join(name))
}

/// The guest disk of `image` as qemu-img reads it.
fn reference_raw(image: &Path, dir: &Path) -> PathBuf {
    let out = dir.join("reference.raw");
    ok(Command::new("qemu-img")
        .args(["convert", "-O", "raw"])
        .arg(image)
        .arg(&out));
    out
}

#[test]
fn vhdx_export_equals_qemus_reading() {
    let Some(vhdx) = fixture("gpt.vhdx") else {
        return;
    };
    let tmp = tempdir();
    let raw = reference_raw(&vhdx, tmp.path());
    let s = Server::start(&vhdx, &[]);
    ok(Command::new("qemu-img")
        .args(["compare", "-f", "raw", "-F", "raw"])
        .arg(&raw)
        .arg(&s.url));
    let info: serde_json::Value =
        serde_json::from_slice(&ok(Command::new("nbdinfo").arg("--json").arg(&s.url))).unwrap();
    let e = &info["exports"][0];
    assert_eq!(e["export-size"], 128 * 1024 * 1024);
    assert_eq!(e["is_read_only"], true);
    assert_eq!(e["block_size_minimum"], 1);
    let copy = tmp.path().join("copy.raw");
    ok(Command::new("nbdcopy").arg(&s.url).arg(&copy));
    assert_eq!(sha256_file(&copy), sha256_file(&raw));
    // qemu-img convert from the export to qcow2 and back gives the same disk.
    let q = tmp.path().join("via.qcow2");
    ok(Command::new("qemu-img")
        .args(["convert", "-f", "raw", "-O", "qcow2"])
        .arg(&s.url)
        .arg(&q));
    ok(Command::new("qemu-img")
        .args(["compare", "-f", "raw", "-F", "qcow2"])
        .arg(&raw)
        .arg(&q));
    // qemu-img reads the GPT through the export, as from a local disk.
    let out = ok(Command::new("qemu-img").arg("info").arg(&s.url));
    assert!(String::from_utf8_lossy(&out).contains("128 MiB"));
}

#[test]
fn block_status_reports_holes() {
    let Some(raw) = fixture("halfsparse.raw") else {
        return;
    };
    let s = Server::start(&raw, &[]);
    let map = String::from_utf8(ok(Command::new("nbdinfo").arg("--map").arg(&s.url))).unwrap();
    // Data in even MiBs, holes in odd ones, as the file has them.
    let mib = 1u64 << 20;
    let mut data = 0u64;
    let mut holes = 0u64;
    for l in map.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        let (off, len, st): (u64, u64, u32) = (
            f[0].parse().unwrap(),
            f[1].parse().unwrap(),
            f[2].parse().unwrap(),
        );
        if st == 0 {
            assert_eq!((off / mib) % 2, 0, "data at odd MiB: {l}");
            data += len;
        } else {
            assert_eq!(st, 3, "{l}");
            holes += len;
        }
    }
    assert_eq!(data, 8 * mib);
    assert_eq!(holes, 8 * mib);
    // Reads of holes still return zeros (structured replies send them as hole chunks).
    let tmp = tempdir();
    let copy = tmp.path().join("c.raw");
    ok(Command::new("nbdcopy").arg(&s.url).arg(&copy));
    assert_eq!(sha256_file(&copy), sha256_file(&raw));
}

#[test]
fn writes_go_to_the_overlay_and_the_image_is_untouched() {
    let Some(vhdx) = fixture("gpt.vhdx") else {
        return;
    };
    let tmp = tempdir();
    let image = tmp.path().join("disk.vhdx");
    std::fs::copy(&vhdx, &image).unwrap();
    let before = sha256_file(&image);
    let expected = reference_raw(&image, tmp.path());
    let overlay = tmp.path().join("changes.ovl");
    let writes = [
        "write -P 0x5a 1000 70000",
        "write -z 2M 1M",
        "discard 4M 64k",
        "write -P 0x33 134217000 728",
    ];
    let mut s = Server::start(
        &image,
        &["--read-write", "--overlay", overlay.to_str().unwrap()],
    );
    let mut io = Command::new("qemu-io");
    io.args(["-f", "raw"]);
    for w in writes {
        io.args(["-c", w]);
    }
    io.args(["-c", "read -P 0x5a 1000 70000", "-c", "flush"]);
    let out = String::from_utf8(ok(io.arg(&s.url))).unwrap();
    assert!(!out.contains("Pattern verification failed"), "{out}");
    // The same writes on a raw copy give what the export must show.
    let mut local = Command::new("qemu-io");
    local.args(["-f", "raw"]);
    for w in writes {
        local.args(["-c", w]);
    }
    ok(local.arg(&expected));
    ok(Command::new("qemu-img")
        .args(["compare", "-f", "raw", "-F", "raw"])
        .arg(&expected)
        .arg(&s.url));
    assert!(s.stop(), "server did not stop cleanly");
    assert_eq!(sha256_file(&image), before, "the image changed");
    // The overlay keeps the writes: served again, it shows them.
    let s2 = Server::start(
        &image,
        &["--read-write", "--overlay", overlay.to_str().unwrap()],
    );
    ok(Command::new("qemu-img")
        .args(["compare", "-f", "raw", "-F", "raw"])
        .arg(&expected)
        .arg(&s2.url));
}

#[test]
fn read_write_needs_an_overlay_or_in_place_on_a_raw_image() {
    let Some(vhdx) = fixture("gpt.vhdx") else {
        return;
    };
    let out = run(diskimg().args(["serve", "nbd"]).arg(&vhdx).args([
        "--listen",
        "127.0.0.1:0",
        "--read-write",
    ]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--overlay"));
    let out = run(diskimg().args(["serve", "nbd"]).arg(&vhdx).args([
        "--listen",
        "127.0.0.1:0",
        "--read-write",
        "--in-place",
    ]));
    assert!(!out.status.success());
    // A raw image can be written in place when asked.
    let tmp = tempdir();
    let raw = tmp.path().join("disk.raw");
    std::fs::copy(
        fixtures("mount-serve").unwrap().join("halfsparse.raw"),
        &raw,
    )
    .unwrap();
    let s = Server::start(&raw, &["--read-write", "--in-place"]);
    ok(Command::new("qemu-io")
        .args(["-f", "raw", "-c", "write -P 0x77 1M 4096", "-c", "flush"])
        .arg(&s.url));
    drop(s);
    let data = std::fs::read(&raw).unwrap();
    assert!(data[1 << 20..(1 << 20) + 4096].iter().all(|&b| b == 0x77));
}

#[test]
fn read_only_exports_refuse_writes() {
    let Some(raw) = fixture("halfsparse.raw") else {
        return;
    };
    let s = Server::start(&raw, &[]);
    let out = run(Command::new("qemu-io")
        .args(["-f", "raw", "-c", "write -P 1 0 512"])
        .arg(&s.url));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success()
            || text.contains("ermission")
            || text.contains("read-only")
            || text.contains("read only"),
        "{text}"
    );
}

#[test]
fn several_clients_at_once() {
    let Some(vhdx) = fixture("gpt.vhdx") else {
        return;
    };
    let tmp = tempdir();
    let raw = reference_raw(&vhdx, tmp.path());
    let want = sha256_file(&raw);
    let s = Server::start(&vhdx, &[]);
    let children: Vec<(Child, PathBuf)> = (0..4)
        .map(|i| {
            let out = tmp.path().join(format!("c{i}.raw"));
            let c = Command::new("nbdcopy")
                .arg(&s.url)
                .arg(&out)
                .spawn()
                .unwrap();
            (c, out)
        })
        .collect();
    for (mut c, out) in children {
        assert!(c.wait().unwrap().success());
        assert_eq!(sha256_file(&out), want);
    }
}

/// The fixed newstyle handshake and NBD_OPT_GO by hand, up to the transmission phase.
fn handshake(addr: &str, export: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut hello = [0u8; 18];
    s.read_exact(&mut hello).unwrap();
    assert_eq!(&hello[..8], b"NBDMAGIC");
    assert_eq!(&hello[8..16], b"IHAVEOPT");
    s.write_all(&3u32.to_be_bytes()).unwrap();
    let mut data = (export.len() as u32).to_be_bytes().to_vec();
    data.extend_from_slice(export.as_bytes());
    data.extend_from_slice(&0u16.to_be_bytes());
    let mut opt = b"IHAVEOPT".to_vec();
    opt.extend_from_slice(&7u32.to_be_bytes());
    opt.extend_from_slice(&(data.len() as u32).to_be_bytes());
    opt.extend_from_slice(&data);
    s.write_all(&opt).unwrap();
    loop {
        let mut h = [0u8; 20];
        s.read_exact(&mut h).unwrap();
        let kind = u32::from_be_bytes(h[12..16].try_into().unwrap());
        let len = u32::from_be_bytes(h[16..20].try_into().unwrap());
        let mut body = vec![0u8; len as usize];
        s.read_exact(&mut body).unwrap();
        assert!(kind < 1 << 31, "option error {kind:#x}");
        if kind == 1 {
            return s;
        }
    }
}

fn request(kind: u16, cookie: u64, offset: u64, len: u32) -> Vec<u8> {
    let mut r = 0x2560_9513u32.to_be_bytes().to_vec();
    r.extend_from_slice(&0u16.to_be_bytes());
    r.extend_from_slice(&kind.to_be_bytes());
    r.extend_from_slice(&cookie.to_be_bytes());
    r.extend_from_slice(&offset.to_be_bytes());
    r.extend_from_slice(&len.to_be_bytes());
    r
}

#[test]
fn a_client_that_vanishes_mid_request_changes_nothing() {
    let Some(raw) = fixture("halfsparse.raw") else {
        return;
    };
    let tmp = tempdir();
    let image = tmp.path().join("disk.raw");
    std::fs::copy(&raw, &image).unwrap();
    let overlay = tmp.path().join("o.ovl");
    let s = Server::start(
        &image,
        &["--read-write", "--overlay", overlay.to_str().unwrap()],
    );
    // A write request whose payload never fully arrives.
    let mut c = handshake(&s.addr, "");
    let mut req = request(1, 1, 0, 65536);
    req.extend_from_slice(&[0xFFu8; 1000]);
    c.write_all(&req).unwrap();
    drop(c);
    // A bare header cut in half, and a connection that closes during the handshake.
    let mut c = handshake(&s.addr, "");
    c.write_all(&request(0, 2, 0, 4096)[..10]).unwrap();
    drop(c);
    let mut c = TcpStream::connect(&s.addr).unwrap();
    let mut hello = [0u8; 10];
    c.read_exact(&mut hello).unwrap();
    drop(c);
    // A read whose reply the client does not wait for.
    let mut c = handshake(&s.addr, "");
    c.write_all(&request(0, 3, 0, 8 << 20)).unwrap();
    drop(c);
    // The server still serves, and the export equals the untouched image.
    ok(Command::new("qemu-img")
        .args(["compare", "-f", "raw", "-F", "raw"])
        .arg(&raw)
        .arg(&s.url));
    drop(s);
    assert_eq!(sha256_file(&image), sha256_file(&raw));
}

#[test]
fn bad_requests_get_errors_not_disconnects() {
    let Some(raw) = fixture("halfsparse.raw") else {
        return;
    };
    let s = Server::start(&raw, &[]);
    let mut c = handshake(&s.addr, "");
    let size = std::fs::metadata(&raw).unwrap().len();
    // Past the end, an unknown command, a write to a read-only export (with its payload).
    c.write_all(&request(0, 10, size - 100, 4096)).unwrap();
    c.write_all(&request(99, 11, 0, 0)).unwrap();
    let mut w = request(1, 12, 0, 512);
    w.extend_from_slice(&[1u8; 512]);
    c.write_all(&w).unwrap();
    c.write_all(&request(0, 13, 0, 512)).unwrap();
    let mut errors = Vec::new();
    for _ in 0..4 {
        let mut h = [0u8; 16];
        c.read_exact(&mut h).unwrap();
        assert_eq!(&h[..4], &0x6744_6698u32.to_be_bytes());
        let error = u32::from_be_bytes(h[4..8].try_into().unwrap());
        let cookie = u64::from_be_bytes(h[8..16].try_into().unwrap());
        if error == 0 {
            let mut data = vec![0u8; 512];
            c.read_exact(&mut data).unwrap();
        }
        errors.push((cookie, error));
    }
    assert_eq!(errors, vec![(10, 22), (11, 22), (12, 1), (13, 0)]);
    c.write_all(&request(2, 14, 0, 0)).unwrap();
}

#[test]
fn export_list_and_names() {
    let Some(raw) = fixture("halfsparse.raw") else {
        return;
    };
    let s = Server::start(&raw, &["--export-name", "disk0"]);
    assert!(s.url.ends_with("/disk0"), "{}", s.url);
    let list = String::from_utf8(ok(Command::new("nbdinfo")
        .arg("--list")
        .arg(format!("nbd://{}", s.addr))))
    .unwrap();
    assert!(list.contains("export=\"disk0\""), "{list}");
    let out = run(Command::new("nbdinfo").arg(format!("nbd://{}/nope", s.addr)));
    assert!(!out.status.success());
}

#[test]
fn an_overlay_that_fills_up_answers_enospc_and_keeps_serving() {
    let Some(raw) = fixture("halfsparse.raw") else {
        return;
    };
    let tmp = tempdir();
    let small = tmp.path().join("small");
    std::fs::create_dir(&small).unwrap();
    let m = run(Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&small));
    if !m.status.success() {
        let msg = "cannot mount a tmpfs here";
        assert!(!strict(), "{msg}");
        eprintln!("skipped: {msg}");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).output();
        }
    }
    let _u = Unmount(&small);
    let overlay = small.join("o.ovl");
    let s = Server::start(
        &raw,
        &["--read-write", "--overlay", overlay.to_str().unwrap()],
    );
    let out = run(Command::new("qemu-io")
        .args(["-f", "raw", "-c", "write -P 0x11 0 8M"])
        .arg(&s.url));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("No space left"), "{text}");
    // Reads still work, from the base where the overlay could not take the data.
    let copy = tmp.path().join("c.raw");
    ok(Command::new("nbdcopy").arg(&s.url).arg(&copy));
    assert_eq!(std::fs::metadata(&copy).unwrap().len(), 16 << 20);
    drop(s);
}
