//! B-trees (`btree_node_phys_t`, "Apple File System Reference", B-Trees): the object maps
//! (fixed-size keys and values, physical child addresses) and the file-system trees
//! (variable-size keys and values, virtual child ids resolved through an object map).
//!
//! A node is one block: a header, a table of contents of key/value locations, keys growing
//! up from after the table, values growing down from the end of the block (from before the
//! `btree_info_t` footer on the root). Index nodes hold child object ids as values. Nodes have
//! no sibling links, so in-order walks descend from the root each time.
//!
//! Every descent checks that a child's level is one less than its parent's, which bounds the
//! depth by the root's level ([`MAX_DEPTH`]) and makes cycles impossible; a walk visits at
//! most [`MAX_SCAN_NODES`] nodes.

use super::FORMAT;
use super::object::{OBJECT_TYPE_BTREE, OBJECT_TYPE_BTREE_NODE, le16, le32, le64};
use super::store::Store;
use crate::error::{Error, Result};
use std::cmp::Ordering;

/// Deepest tree accepted (a root level above this is refused).
pub const MAX_DEPTH: u16 = 16;
/// Nodes one walk visits at most.
pub const MAX_SCAN_NODES: usize = 1 << 20;

/// `BTNODE_ROOT`.
const BTNODE_ROOT: u16 = 0x0001;
/// `BTNODE_LEAF`.
const BTNODE_LEAF: u16 = 0x0002;
/// `BTNODE_FIXED_KV_SIZE`.
const BTNODE_FIXED_KV_SIZE: u16 = 0x0004;
/// `BTREE_PHYSICAL`: child ids are physical addresses.
const BTREE_PHYSICAL: u32 = 0x0000_0010;
/// Size of `btree_node_phys_t` up to `btn_data`.
const NODE_HEADER: usize = 56;
/// Size of `btree_info_t`.
const INFO_SIZE: usize = 40;

/// What a walk calls with each record's key and value.
pub type Visit<'a> = dyn FnMut(&[u8], &[u8]) -> Result<Step> + 'a;

/// How a walk goes on after a record.
pub enum Step {
    /// Next record.
    Next,
    /// Stop the walk.
    Stop,
}

/// One B-tree node, checked.
struct Node {
    buf: Vec<u8>,
    offset: u64,
    flags: u16,
    level: u16,
    nkeys: usize,
    toc: usize,
    keys: usize,
    vals_end: usize,
}

/// An open B-tree: its root and what its root's footer says.
pub struct BTree {
    /// Root node: a physical address, or a virtual id when `omap` is set.
    root: u64,
    /// The object map resolving virtual child ids, and the transaction to resolve them at.
    omap: Option<(Box<BTree>, u64)>,
    /// Fixed key and value sizes (`bt_key_size`, `bt_val_size`), for fixed-size trees.
    fixed: Option<(usize, usize)>,
    /// What the tree is, in errors.
    what: &'static str,
}

impl BTree {
    /// Opens the tree whose root is at physical address `root`.
    pub fn open_physical(store: &Store, root: u64, what: &'static str) -> Result<BTree> {
        Self::open(store, root, None, what)
    }

    /// Opens the tree whose root has virtual id `root`, resolved through `omap` at `xid`.
    pub fn open_virtual(
        store: &Store,
        root: u64,
        omap: BTree,
        xid: u64,
        what: &'static str,
    ) -> Result<BTree> {
        Self::open(store, root, Some((Box::new(omap), xid)), what)
    }

    fn open(
        store: &Store,
        root: u64,
        omap: Option<(Box<BTree>, u64)>,
        what: &'static str,
    ) -> Result<BTree> {
        let mut tree = BTree {
            root,
            omap,
            fixed: None,
            what,
        };
        let node = tree.node(store, root, true)?;
        let info = node.vals_end;
        let bt_flags = le32(&node.buf, info).unwrap_or(0);
        let node_size = le32(&node.buf, info + 4).unwrap_or(0);
        if u64::from(node_size) != store.block_size() {
            return Err(Error::unsupported(
                FORMAT,
                format!("{what}: node size {node_size} differs from the block size"),
            ));
        }
        if node.flags & BTNODE_FIXED_KV_SIZE != 0 {
            let k = le32(&node.buf, info + 8).unwrap_or(0) as usize;
            let v = le32(&node.buf, info + 12).unwrap_or(0) as usize;
            if k == 0 || k > 256 || v > 256 {
                return Err(Error::corrupt(
                    FORMAT,
                    what,
                    node.offset,
                    format!("fixed key size {k} or value size {v} is out of range"),
                ));
            }
            tree.fixed = Some((k, v));
        }
        if tree.omap.is_some() && bt_flags & BTREE_PHYSICAL != 0 {
            tree.omap = None;
        }
        Ok(tree)
    }

    /// Reads and checks node `id` (the root when `root`).
    fn node(&self, store: &Store, id: u64, root: bool) -> Result<Node> {
        let paddr = match &self.omap {
            None => id,
            Some((omap, xid)) => omap.omap_lookup(store, id, *xid)?.ok_or_else(|| {
                Error::corrupt(
                    FORMAT,
                    self.what,
                    0,
                    format!("node {id:#x} is not in the object map"),
                )
            })?,
        };
        let (o, buf, offset) = store.read_object(paddr, self.what)?;
        let bad = |msg: String| Error::corrupt(FORMAT, self.what, offset, msg);
        let want = if root {
            OBJECT_TYPE_BTREE
        } else {
            OBJECT_TYPE_BTREE_NODE
        };
        if o.kind != want {
            return Err(bad(format!(
                "object type {:#x}, {want:#x} expected",
                o.kind
            )));
        }
        if o.oid != id {
            return Err(bad(format!("object id {:#x}, {id:#x} expected", o.oid)));
        }
        let flags = le16(&buf, 32).unwrap_or(0);
        let level = le16(&buf, 34).unwrap_or(0);
        let nkeys = le32(&buf, 36).unwrap_or(0) as usize;
        let toc_off = usize::from(le16(&buf, 40).unwrap_or(0));
        let toc_len = usize::from(le16(&buf, 42).unwrap_or(0));
        if root != (flags & BTNODE_ROOT != 0) {
            return Err(bad("root flag does not match the node's place".into()));
        }
        if (flags & BTNODE_LEAF != 0) != (level == 0) || level > MAX_DEPTH {
            return Err(bad(format!("level {level} does not fit the leaf flag")));
        }
        let vals_end = if root {
            buf.len() - INFO_SIZE
        } else {
            buf.len()
        };
        let toc = NODE_HEADER + toc_off;
        let keys = toc + toc_len;
        let entry = if flags & BTNODE_FIXED_KV_SIZE != 0 {
            4
        } else {
            8
        };
        if keys > vals_end || nkeys.saturating_mul(entry) > toc_len {
            return Err(bad(format!(
                "{nkeys} entries do not fit a table of {toc_len} bytes in the node"
            )));
        }
        Ok(Node {
            buf,
            offset,
            flags,
            level,
            nkeys,
            toc,
            keys,
            vals_end,
        })
    }

    /// Key and value of entry `i` of `node`.
    fn entry<'a>(&self, node: &'a Node, i: usize) -> Result<(&'a [u8], &'a [u8])> {
        let b = &node.buf;
        let leaf = node.level == 0;
        let (k_off, k_len, v_off, v_len) = if node.flags & BTNODE_FIXED_KV_SIZE != 0 {
            let (ks, vs) = self.fixed.ok_or_else(|| {
                Error::corrupt(
                    FORMAT,
                    self.what,
                    node.offset,
                    "fixed-size node in a tree without fixed sizes",
                )
            })?;
            let at = node.toc + i * 4;
            let v_len = if leaf { vs } else { 8 };
            (le16(b, at), Some(ks), le16(b, at + 2), v_len)
        } else {
            let at = node.toc + i * 8;
            let v_len = usize::from(le16(b, at + 6).unwrap_or(0));
            (
                le16(b, at),
                le16(b, at + 2).map(usize::from),
                le16(b, at + 4),
                v_len,
            )
        };
        let bad = |msg: &str| Error::corrupt(FORMAT, self.what, node.offset, msg.to_owned());
        let k_off = usize::from(k_off.ok_or_else(|| bad("table cut short"))?);
        let k_len = k_len.ok_or_else(|| bad("table cut short"))?;
        let v_off = usize::from(v_off.ok_or_else(|| bad("table cut short"))?);
        let ks = node.keys + k_off;
        let key = b
            .get(ks..ks + k_len)
            .filter(|_| ks + k_len <= node.vals_end)
            .ok_or_else(|| bad("key lies outside the node"))?;
        // 0xFFFF: a ghost entry, which has no value.
        if v_off == 0xFFFF {
            return Ok((key, &[]));
        }
        let vs = node
            .vals_end
            .checked_sub(v_off)
            .filter(|&s| s >= node.keys && s + v_len <= node.vals_end)
            .ok_or_else(|| bad("value lies outside the node"))?;
        Ok((key, &b[vs..vs + v_len]))
    }

    /// The child id an index entry's value holds.
    fn child(&self, node: &Node, val: &[u8]) -> Result<u64> {
        le64(val, 0).ok_or_else(|| {
            Error::corrupt(
                FORMAT,
                self.what,
                node.offset,
                "index value is not a child id",
            )
        })
    }

    /// Reads child `id` of `parent`, which must be one level below it.
    fn child_node(&self, store: &Store, parent: &Node, id: u64) -> Result<Node> {
        let n = self.node(store, id, false)?;
        if n.level + 1 != parent.level {
            return Err(Error::corrupt(
                FORMAT,
                self.what,
                n.offset,
                format!(
                    "child at level {} under a node of level {}",
                    n.level, parent.level
                ),
            ));
        }
        Ok(n)
    }

    /// The last record whose key is at most the target (`cmp(key)` orders the key against the
    /// target), as owned key and value.
    pub fn find_le(
        &self,
        store: &Store,
        cmp: &dyn Fn(&[u8]) -> Ordering,
    ) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let mut node = self.node(store, self.root, true)?;
        loop {
            let mut best = None;
            let (mut lo, mut hi) = (0usize, node.nkeys);
            while lo < hi {
                let mid = (lo + hi) / 2;
                let (k, _) = self.entry(&node, mid)?;
                if cmp(k) == Ordering::Greater {
                    hi = mid;
                } else {
                    best = Some(mid);
                    lo = mid + 1;
                }
            }
            let Some(i) = best else { return Ok(None) };
            let (k, v) = self.entry(&node, i)?;
            if node.level == 0 {
                return Ok(Some((k.to_vec(), v.to_vec())));
            }
            let id = self.child(&node, v)?;
            node = self.child_node(store, &node, id)?;
        }
    }

    /// Looks `oid` up in an object map tree: the mapping with the greatest `xid` at most
    /// `xid`, as its physical address (`None`: not mapped, or deleted).
    pub fn omap_lookup(&self, store: &Store, oid: u64, xid: u64) -> Result<Option<u64>> {
        let cmp = |k: &[u8]| {
            let ko = le64(k, 0).unwrap_or(0);
            let kx = le64(k, 8).unwrap_or(0);
            ko.cmp(&oid).then(kx.cmp(&xid))
        };
        let Some((k, v)) = self.find_le(store, &cmp)? else {
            return Ok(None);
        };
        if le64(&k, 0) != Some(oid) {
            return Ok(None);
        }
        // omap_val_t: ov_flags (1: deleted), ov_size, ov_paddr.
        let flags = le32(&v, 0).unwrap_or(0);
        if flags & 1 != 0 {
            return Ok(None);
        }
        Ok(le64(&v, 8))
    }

    /// Calls `f` with every record in a key range, in order: `cmp(key)` is `Less` before the
    /// range, `Equal` in it, `Greater` after it.
    pub fn scan(
        &self,
        store: &Store,
        cmp: &dyn Fn(&[u8]) -> Ordering,
        f: &mut Visit<'_>,
    ) -> Result<()> {
        let root = self.node(store, self.root, true)?;
        let mut visited = 1usize;
        self.scan_node(store, &root, cmp, f, &mut visited)?;
        Ok(())
    }

    fn scan_node(
        &self,
        store: &Store,
        node: &Node,
        cmp: &dyn Fn(&[u8]) -> Ordering,
        f: &mut Visit<'_>,
        visited: &mut usize,
    ) -> Result<Step> {
        if node.level == 0 {
            for i in 0..node.nkeys {
                let (k, v) = self.entry(node, i)?;
                match cmp(k) {
                    Ordering::Less => {}
                    Ordering::Equal => {
                        if let Step::Stop = f(k, v)? {
                            return Ok(Step::Stop);
                        }
                    }
                    Ordering::Greater => return Ok(Step::Stop),
                }
            }
            return Ok(Step::Next);
        }
        // The first child that can hold the range: the last whose first key is before it.
        let mut start = 0;
        for i in 0..node.nkeys {
            let (k, _) = self.entry(node, i)?;
            if cmp(k) == Ordering::Less {
                start = i;
            } else {
                break;
            }
        }
        for i in start..node.nkeys {
            let (k, v) = self.entry(node, i)?;
            if cmp(k) == Ordering::Greater {
                return Ok(Step::Stop);
            }
            *visited += 1;
            if *visited > MAX_SCAN_NODES {
                return Err(Error::limit(
                    FORMAT,
                    self.what,
                    node.offset,
                    format!("a walk visits more than {MAX_SCAN_NODES} nodes"),
                ));
            }
            let id = self.child(node, v)?;
            let child = self.child_node(store, node, id)?;
            if let Step::Stop = self.scan_node(store, &child, cmp, f, visited)? {
                return Ok(Step::Stop);
            }
        }
        Ok(Step::Next)
    }
}

#[cfg(test)]
mod tests {
    use super::super::object;
    use super::*;
    use crate::io::MemorySource;
    use std::sync::Arc;

    const BS: usize = 4096;

    /// A fixed-size (16-byte key, 16-byte value) node as an object map has, checksummed.
    fn node(oid: u64, root: bool, level: u16, entries: &[((u64, u64), Vec<u8>)]) -> Vec<u8> {
        let mut b = vec![0u8; BS];
        b[8..16].copy_from_slice(&oid.to_le_bytes());
        let kind = if root {
            OBJECT_TYPE_BTREE
        } else {
            OBJECT_TYPE_BTREE_NODE
        };
        b[24..28].copy_from_slice(&(kind | 0x4000_0000).to_le_bytes());
        let flags = BTNODE_FIXED_KV_SIZE
            | if root { BTNODE_ROOT } else { 0 }
            | if level == 0 { BTNODE_LEAF } else { 0 };
        b[32..34].copy_from_slice(&flags.to_le_bytes());
        b[34..36].copy_from_slice(&level.to_le_bytes());
        b[36..40].copy_from_slice(&(entries.len() as u32).to_le_bytes());
        let toc_len = (entries.len() * 4) as u16;
        b[42..44].copy_from_slice(&toc_len.to_le_bytes());
        let keys = NODE_HEADER + usize::from(toc_len);
        let vals_end = if root { BS - INFO_SIZE } else { BS };
        for (i, ((ko, kx), v)) in entries.iter().enumerate() {
            let v_off = (i + 1) * 16;
            b[NODE_HEADER + i * 4..NODE_HEADER + i * 4 + 2]
                .copy_from_slice(&((i * 16) as u16).to_le_bytes());
            b[NODE_HEADER + i * 4 + 2..NODE_HEADER + i * 4 + 4]
                .copy_from_slice(&(v_off as u16).to_le_bytes());
            b[keys + i * 16..keys + i * 16 + 8].copy_from_slice(&ko.to_le_bytes());
            b[keys + i * 16 + 8..keys + i * 16 + 16].copy_from_slice(&kx.to_le_bytes());
            b[vals_end - v_off..vals_end - v_off + v.len()].copy_from_slice(v);
        }
        if root {
            let info = BS - INFO_SIZE;
            b[info + 4..info + 8].copy_from_slice(&(BS as u32).to_le_bytes());
            b[info + 8..info + 12].copy_from_slice(&16u32.to_le_bytes());
            b[info + 12..info + 16].copy_from_slice(&16u32.to_le_bytes());
        }
        let sum = object::fletcher64(&b[8..]);
        b[..8].copy_from_slice(&sum.to_le_bytes());
        b
    }

    fn omap_val(paddr: u64) -> Vec<u8> {
        let mut v = vec![0u8; 16];
        v[8..].copy_from_slice(&paddr.to_le_bytes());
        v
    }

    fn store(blocks: Vec<Vec<u8>>) -> Store {
        let n = blocks.len() as u64;
        let dev: crate::device::DeviceRef = Arc::new(MemorySource::new(blocks.concat()));
        Store::new(dev, BS as u64, n)
    }

    #[test]
    fn object_map_lookup_takes_the_newest_mapping_not_after_the_xid() {
        let leaf = node(
            1,
            true,
            0,
            &[
                ((5, 1), omap_val(9)),
                ((5, 3), omap_val(11)),
                ((7, 1), omap_val(12)),
            ],
        );
        let s = store(vec![vec![0u8; BS], leaf]);
        let t = BTree::open_physical(&s, 1, "test").unwrap();
        assert_eq!(t.omap_lookup(&s, 5, 2).unwrap(), Some(9));
        assert_eq!(t.omap_lookup(&s, 5, 3).unwrap(), Some(11));
        assert_eq!(t.omap_lookup(&s, 5, 99).unwrap(), Some(11));
        assert_eq!(t.omap_lookup(&s, 5, 0).unwrap(), None);
        assert_eq!(t.omap_lookup(&s, 6, 5).unwrap(), None);
        assert_eq!(t.omap_lookup(&s, 7, 1).unwrap(), Some(12));
        // A range walk sees oid 5's two mappings in order.
        let mut seen = Vec::new();
        t.scan(&s, &|k| le64(k, 0).unwrap().cmp(&5), &mut |k, _| {
            seen.push(le64(k, 8).unwrap());
            Ok(Step::Next)
        })
        .unwrap();
        assert_eq!(seen, [1, 3]);
    }

    #[test]
    fn cycles_and_bad_checksums_are_errors() {
        // Root (level 2) -> node 2 (level 1), whose only child is itself.
        let root = node(1, true, 2, &[((0, 0), 2u64.to_le_bytes().to_vec())]);
        let looping = node(2, false, 1, &[((0, 0), 2u64.to_le_bytes().to_vec())]);
        let s = store(vec![vec![0u8; BS], root.clone(), looping]);
        let t = BTree::open_physical(&s, 1, "test").unwrap();
        let e = t.omap_lookup(&s, 5, 1).unwrap_err();
        assert!(e.to_string().contains("level"), "{e}");
        let e = t
            .scan(&s, &|_| Ordering::Equal, &mut |_, _| Ok(Step::Next))
            .unwrap_err();
        assert!(e.to_string().contains("level"), "{e}");
        // A child whose bytes changed after its checksum was computed.
        let mut leaf = node(2, false, 0, &[((5, 1), omap_val(9))]);
        leaf[200] ^= 1;
        let root = node(1, true, 1, &[((0, 0), 2u64.to_le_bytes().to_vec())]);
        let s = store(vec![vec![0u8; BS], root, leaf]);
        let t = BTree::open_physical(&s, 1, "test").unwrap();
        let e = t.omap_lookup(&s, 5, 1).unwrap_err();
        assert!(e.to_string().contains("checksum"), "{e}");
        // A child address past the container.
        let root = node(1, true, 1, &[((0, 0), 77u64.to_le_bytes().to_vec())]);
        let s = store(vec![vec![0u8; BS], root]);
        let t = BTree::open_physical(&s, 1, "test").unwrap();
        assert!(t.omap_lookup(&s, 5, 1).is_err());
    }
}
