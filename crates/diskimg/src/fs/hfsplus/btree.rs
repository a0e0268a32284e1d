//! HFS+ B-trees (TN1150, "B-Trees"): the header node, node descriptors and record offsets,
//! a bounded descent to the first record at or after a key, and the walk along the leaves.
//!
//! A node is read whole and checked: its kind, its record offsets (inside the node, in
//! order) and its height. Descents stop after [`MAX_TREE_DEPTH`] levels and walks along the
//! leaf chain after as many nodes as the tree claims (at most [`MAX_NODES`]), so a damaged
//! tree with a loop ends with an error.

use super::FORMAT;
use super::fork::Fork;
use crate::error::{Error, Result};
use crate::io::ReadAt;
use std::cmp::Ordering;

/// Deepest B-tree descended.
pub const MAX_TREE_DEPTH: u32 = 16;
/// Most nodes a tree may claim.
pub const MAX_NODES: u32 = 1 << 26;

/// Node kinds (`BTNodeDescriptor.kind`).
const KIND_LEAF: i8 = -1;
const KIND_INDEX: i8 = 0;
const KIND_HEADER: i8 = 1;
/// `BTHeaderRec.attributes`: index keys are as long as they say (else `maxKeyLength`).
const VARIABLE_INDEX_KEYS: u32 = 0x4;

/// An open B-tree file.
#[derive(Debug, Clone)]
pub struct BTree {
    fork: Fork,
    /// Bytes per node.
    pub node_size: u32,
    root: u32,
    depth: u16,
    total_nodes: u32,
    max_key_len: u16,
    attributes: u32,
    /// `keyCompareType` of the catalog: 0xBC binary (HFSX case-sensitive), 0xCF case folding.
    pub key_compare: u8,
    structure: &'static str,
}

/// A node read from a tree.
pub struct Node {
    /// Its number.
    pub number: u32,
    data: Vec<u8>,
    kind: i8,
    /// Next node of the same level (0: none).
    pub flink: u32,
    offsets: Vec<u16>,
    offset: u64,
}

/// A record's place: node number and record index.
pub type Loc = (u32, u16);

impl BTree {
    /// Reads the header node of the tree stored in `fork`.
    pub fn open(dev: &dyn ReadAt, fork: Fork, structure: &'static str) -> Result<Self> {
        let mut head = [0u8; 512];
        fork.read_exact(dev, 0, &mut head, structure)?;
        let at = fork.device_offset(0).unwrap_or(0);
        let bad = |msg: &str| Error::corrupt(FORMAT, structure, at, msg.to_owned());
        if head[8] as i8 != KIND_HEADER {
            return Err(bad("node 0 is not a header node"));
        }
        let h = &head[14..];
        let be16 = |o: usize| u16::from_be_bytes([h[o], h[o + 1]]);
        let be32 = |o: usize| u32::from_be_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]);
        let node_size = u32::from(be16(18));
        if !node_size.is_power_of_two() || !(512..=32768).contains(&node_size) {
            return Err(bad("node size is not a power of two from 512 to 32768"));
        }
        let total_nodes = be32(22);
        if total_nodes > MAX_NODES
            || u64::from(total_nodes) * u64::from(node_size) > fork.logical_size
        {
            return Err(bad("tree claims more nodes than its file holds"));
        }
        Ok(BTree {
            fork,
            node_size,
            root: be32(2),
            depth: be16(0),
            total_nodes,
            max_key_len: be16(20),
            attributes: be32(38),
            key_compare: h[37],
            structure,
        })
    }

    /// Reads node `n`.
    pub fn node(&self, dev: &dyn ReadAt, n: u32) -> Result<Node> {
        let offset = u64::from(n) * u64::from(self.node_size);
        let at = self.fork.device_offset(offset).unwrap_or(0);
        let bad = |msg: String| Error::corrupt(FORMAT, self.structure, at, msg);
        if n >= self.total_nodes {
            return Err(bad(format!(
                "node {n} is past the tree's {} nodes",
                self.total_nodes
            )));
        }
        let mut data = vec![0u8; self.node_size as usize];
        self.fork
            .read_exact(dev, offset, &mut data, self.structure)?;
        let kind = data[8] as i8;
        let count = usize::from(u16::from_be_bytes([data[10], data[11]]));
        let size = data.len();
        if (count + 1) * 2 + 14 > size {
            return Err(bad(format!("node {n} claims {count} records")));
        }
        let mut offsets = Vec::with_capacity(count + 1);
        for i in 0..=count {
            let o = size - 2 * (i + 1);
            offsets.push(u16::from_be_bytes([data[o], data[o + 1]]));
        }
        let table_start = size - 2 * (count + 1);
        let mut prev = 14u16;
        for &o in &offsets {
            if o < prev || usize::from(o) > table_start {
                return Err(bad(format!("node {n} has record offsets out of order")));
            }
            prev = o;
        }
        Ok(Node {
            number: n,
            flink: u32::from_be_bytes([data[0], data[1], data[2], data[3]]),
            data,
            kind,
            offsets,
            offset: at,
        })
    }

    /// The first leaf record whose key is not less than the target (`cmp` orders a key
    /// against the target), or `None` when every key is less.
    pub fn find(&self, dev: &dyn ReadAt, cmp: &dyn Fn(&[u8]) -> Ordering) -> Result<Option<Loc>> {
        if self.root == 0 {
            return Ok(None);
        }
        let mut n = self.root;
        let limit = u32::from(self.depth).clamp(1, MAX_TREE_DEPTH);
        for _ in 0..=limit {
            let node = self.node(dev, n)?;
            match node.kind {
                KIND_INDEX => {
                    let mut child = None;
                    for i in 0..node.count() {
                        let (key, data) = node.index_record(i, self)?;
                        if child.is_some() && cmp(key) == Ordering::Greater {
                            break;
                        }
                        child = Some(child_pointer(data).ok_or_else(|| {
                            Error::corrupt(
                                FORMAT,
                                self.structure,
                                node.offset,
                                "index record without a child",
                            )
                        })?);
                    }
                    n = child.ok_or_else(|| {
                        Error::corrupt(FORMAT, self.structure, node.offset, "empty index node")
                    })?;
                }
                KIND_LEAF => {
                    for i in 0..node.count() {
                        let (key, _) = node.leaf_record(i)?;
                        if cmp(key) != Ordering::Less {
                            return Ok(Some((n, i)));
                        }
                    }
                    return self.first_after(dev, &node);
                }
                other => {
                    return Err(Error::corrupt(
                        FORMAT,
                        self.structure,
                        node.offset,
                        format!("node {n} of kind {other} met while descending"),
                    ));
                }
            }
        }
        Err(Error::limit(
            FORMAT,
            self.structure,
            0,
            format!("tree is deeper than {limit} levels (a loop?)"),
        ))
    }

    /// The record after `loc` along the leaves, or `None` at the end.
    pub fn next(&self, dev: &dyn ReadAt, node: &Node, index: u16) -> Result<Option<Loc>> {
        if index + 1 < node.count() {
            return Ok(Some((node.number, index + 1)));
        }
        self.first_after(dev, node)
    }

    /// The first record of the leaves after `node`.
    fn first_after(&self, dev: &dyn ReadAt, node: &Node) -> Result<Option<Loc>> {
        let mut n = node.flink;
        let mut hops = 0u32;
        while n != 0 {
            hops += 1;
            if hops > self.total_nodes {
                return Err(Error::corrupt(
                    FORMAT,
                    self.structure,
                    node.offset,
                    "the leaf chain loops",
                ));
            }
            let next = self.node(dev, n)?;
            if next.kind != KIND_LEAF {
                return Err(Error::corrupt(
                    FORMAT,
                    self.structure,
                    next.offset,
                    "the leaf chain leads to a node that is not a leaf",
                ));
            }
            if next.count() > 0 {
                return Ok(Some((n, 0)));
            }
            n = next.flink;
        }
        Ok(None)
    }

    fn index_key_len(&self, key_len: usize) -> usize {
        if self.attributes & VARIABLE_INDEX_KEYS != 0 {
            key_len
        } else {
            usize::from(self.max_key_len)
        }
    }
}

fn child_pointer(data: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(data.get(..4)?.try_into().ok()?))
}

impl Node {
    /// Number of records.
    pub fn count(&self) -> u16 {
        (self.offsets.len() - 1) as u16
    }

    /// Byte position of the node on the device (for errors).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn record(&self, i: u16) -> &[u8] {
        let i = usize::from(i);
        &self.data[usize::from(self.offsets[i])..usize::from(self.offsets[i + 1])]
    }

    fn split(&self, i: u16, key_space: impl Fn(usize) -> usize) -> Result<(&[u8], &[u8])> {
        let r = self.record(i);
        let bad = || {
            Error::corrupt(
                FORMAT,
                "B-tree record",
                self.offset,
                "key runs past its record",
            )
        };
        let key_len = usize::from(u16::from_be_bytes([
            *r.first().ok_or_else(bad)?,
            *r.get(1).ok_or_else(bad)?,
        ]));
        let space = key_space(key_len);
        if 2 + key_len.max(space) > r.len() {
            return Err(bad());
        }
        let data_start = (2 + space + 1) & !1;
        Ok((&r[2..2 + key_len], r.get(data_start..).unwrap_or(&[])))
    }

    /// Key and data of leaf record `i`.
    pub fn leaf_record(&self, i: u16) -> Result<(&[u8], &[u8])> {
        self.split(i, |k| k)
    }

    fn index_record(&self, i: u16, tree: &BTree) -> Result<(&[u8], &[u8])> {
        self.split(i, |k| tree.index_key_len(k))
    }
}
