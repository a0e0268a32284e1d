//! `diskimg serve nbd`.

use crate::cli::{ServeArgs, ServeNbdArgs, ServeWhat};
use anyhow::{Result, bail};
use diskimg::device::DeviceRef;
use diskimg::nbd::{End, Export, NbdServer, ServerEvents};
use diskimg::overlay::{RawFile, SparseOverlay, WritableRef};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

pub fn run(a: ServeArgs) -> Result<()> {
    match a.what {
        ServeWhat::Nbd(a) => nbd(a),
    }
}

fn nbd(a: ServeNbdArgs) -> Result<()> {
    let image = super::open(&a.image, &a.secret)?;
    let content = image.content();
    let in_container = image.root.container.is_some();
    let device: DeviceRef = match (a.raw, a.partition) {
        (true, _) => image.root.device.clone(),
        (false, Some(n)) => content
            .partition(n)
            .map_err(|e| e.with_file(&image.path))?
            .device
            .clone(),
        (false, None) => content.device.clone(),
    };
    let name = a.export_name.clone().unwrap_or_else(|| {
        a.image
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    });
    let (mut export, mode) = if !a.read_write {
        (Export::read_only(name, device), "read-only".to_owned())
    } else if let Some(path) = &a.overlay {
        if let Some(d) = diskimg::format::writer_for_path(path).filter(|d| d.name != "raw") {
            bail!(
                "--overlay writes diskimg's own overlay file, not {} (a name ending .{} would promise one); choose another name",
                d.name,
                path.extension()
                    .map_or_else(String::new, |e| e.to_string_lossy().into_owned())
            );
        }
        let ov = SparseOverlay::open(device, path, &a.image.display().to_string())?;
        let w: WritableRef = Arc::new(ov);
        (
            Export::writable(name, w),
            format!("writes go to {}", path.display()),
        )
    } else if a.in_place {
        if (in_container && !a.raw) || a.partition.is_some() {
            bail!(
                "--in-place writes only a raw image served whole; use --overlay FILE for containers and partitions"
            );
        }
        let w: WritableRef = Arc::new(RawFile::open(&a.image)?);
        (
            Export::writable(name, w),
            "writes change the image in place".to_owned(),
        )
    } else {
        bail!(
            "--read-write needs --overlay FILE (the image is never changed) or, for a raw image, --in-place"
        );
    };
    export.description = a.image.display().to_string();
    let export_name = export.name.clone();
    let server = NbdServer::bind(&a.listen, vec![export])?;
    let addr = server.local_addr()?;
    let handle = server.shutdown_handle()?;
    crate::signals::on_interrupt(move || handle.shutdown())?;
    // One line on standard output, so scripts and tests learn the address (port 0 picks one).
    println!("nbd://{addr}/{export_name}");
    eprintln!(
        "diskimg: serving {} on {addr} ({mode}); Ctrl-C stops",
        a.image.display()
    );
    server.run(&Log { quiet: a.quiet })?;
    eprintln!("diskimg: server stopped");
    Ok(())
}

struct Log {
    quiet: bool,
}

impl ServerEvents for Log {
    fn connected(&self, peer: SocketAddr) {
        if !self.quiet {
            eprintln!("diskimg: client {peer} connected");
        }
    }
    fn ended(&self, peer: SocketAddr, result: &io::Result<End>) {
        if self.quiet {
            return;
        }
        match result {
            Ok(End::Disconnect) => eprintln!("diskimg: client {peer} disconnected"),
            Ok(End::Closed) => eprintln!("diskimg: client {peer} closed the connection"),
            Ok(End::Shutdown) => {}
            Err(e) => eprintln!("diskimg: client {peer}: {e}"),
        }
    }
    fn refused(&self, peer: SocketAddr) {
        eprintln!("diskimg: client {peer} refused: too many clients");
    }
}
