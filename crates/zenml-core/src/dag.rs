//! The dependency graph of a pipeline's steps.

use std::collections::HashMap;

/// One step in a [`Dag`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DagNode {
    /// The step's name, unique in the graph.
    pub name: String,
    /// Indices of the nodes this one depends on.
    pub upstream: Vec<usize>,
}

/// Why a set of nodes is not a valid DAG.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DagError {
    /// Two nodes share a name.
    #[error("step name `{0}` is used twice in the pipeline")]
    DuplicateName(String),
    /// A node depends on an index that does not exist.
    #[error("step `{node}` depends on step number {upstream}, which does not exist")]
    MissingUpstream {
        /// The node.
        node: String,
        /// The bad index.
        upstream: usize,
    },
    /// The nodes form a cycle.
    #[error("the pipeline's steps form a cycle through `{0}`")]
    Cycle(String),
}

/// A validated directed acyclic graph of steps, with a topological order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dag {
    nodes: Vec<DagNode>,
    order: Vec<usize>,
    downstream: Vec<Vec<usize>>,
}

impl Dag {
    /// Validates `nodes`: unique names, existing upstream indices, no cycle.
    pub fn new(nodes: Vec<DagNode>) -> Result<Dag, DagError> {
        let mut seen = HashMap::new();
        for (i, node) in nodes.iter().enumerate() {
            if seen.insert(node.name.as_str(), i).is_some() {
                return Err(DagError::DuplicateName(node.name.clone()));
            }
        }
        let mut downstream = vec![Vec::new(); nodes.len()];
        let mut indegree = vec![0usize; nodes.len()];
        for (i, node) in nodes.iter().enumerate() {
            for &up in &node.upstream {
                if up >= nodes.len() {
                    return Err(DagError::MissingUpstream {
                        node: node.name.clone(),
                        upstream: up,
                    });
                }
                downstream[up].push(i);
                indegree[i] += 1;
            }
        }
        // Kahn's algorithm, taking ready nodes in declaration order for a stable order.
        let mut ready: Vec<usize> = (0..nodes.len())
            .filter(|&i| indegree[i] == 0)
            .rev()
            .collect();
        let mut order = Vec::with_capacity(nodes.len());
        while let Some(i) = ready.pop() {
            order.push(i);
            for &d in downstream[i].iter().rev() {
                indegree[d] -= 1;
                if indegree[d] == 0 {
                    ready.push(d);
                }
            }
        }
        if order.len() != nodes.len() {
            let stuck = (0..nodes.len()).find(|i| indegree[*i] > 0).unwrap_or(0);
            return Err(DagError::Cycle(nodes[stuck].name.clone()));
        }
        Ok(Dag {
            nodes,
            order,
            downstream,
        })
    }

    /// The nodes, in declaration order.
    pub fn nodes(&self) -> &[DagNode] {
        &self.nodes
    }

    /// Node indices in an order where every node comes after its upstream nodes.
    pub fn topological_order(&self) -> &[usize] {
        &self.order
    }

    /// Indices of the nodes that depend directly on node `index`.
    pub fn downstream(&self, index: usize) -> &[usize] {
        &self.downstream[index]
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the graph has no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, upstream: &[usize]) -> DagNode {
        DagNode {
            name: name.to_owned(),
            upstream: upstream.to_vec(),
        }
    }

    #[test]
    fn orders_upstream_first() {
        let dag = Dag::new(vec![
            node("c", &[1]),
            node("a", &[]),
            node("b", &[1]),
            node("d", &[0, 2]),
        ])
        .unwrap();
        let pos = |i: usize| {
            dag.topological_order()
                .iter()
                .position(|&x| x == i)
                .unwrap()
        };
        assert!(pos(1) < pos(0) && pos(1) < pos(2) && pos(0) < pos(3) && pos(2) < pos(3));
        assert_eq!(dag.downstream(1), &[0, 2]);
    }

    #[test]
    fn rejects_cycles_duplicates_and_dangling_edges() {
        assert!(matches!(
            Dag::new(vec![node("a", &[1]), node("b", &[0])]),
            Err(DagError::Cycle(_))
        ));
        assert!(matches!(
            Dag::new(vec![node("a", &[]), node("a", &[])]),
            Err(DagError::DuplicateName(_))
        ));
        assert!(matches!(
            Dag::new(vec![node("a", &[3])]),
            Err(DagError::MissingUpstream { .. })
        ));
    }
}
