//! The `graph!` macro.

/// Declares a graph: its node enum, state, deps and output types, and the edges.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use verity_graph::{GraphContext, Next, Node, NodeError, graph};
///
/// #[derive(Serialize, Deserialize)]
/// struct Count(u32);
/// #[derive(Serialize, Deserialize)]
/// struct Check(u32);
///
/// graph! {
///     /// Counts up to five.
///     pub enum Counter {
///         type State = ();
///         type Deps = ();
///         type Output = u32;
///         /// Adds one.
///         Count => [Check],
///         /// Stops at five.
///         Check => [Count: "below five", End: "five"],
///     }
/// }
///
/// impl Node<Counter> for Count {
///     async fn run(&self, _: &mut GraphContext<(), ()>) -> Result<Next<Self, Counter>, NodeError> {
///         Ok(Next::goto(Check(self.0 + 1)))
///     }
/// }
///
/// impl Node<Counter> for Check {
///     async fn run(&self, _: &mut GraphContext<(), ()>) -> Result<Next<Self, Counter>, NodeError> {
///         Ok(if self.0 >= 5 { Next::end(self.0) } else { Next::goto(Count(self.0)) })
///     }
/// }
/// ```
///
/// Each node line is `Name => [Successor, …]`, where `Name` is both the node type and
/// its variant; a successor is another node of the enum or `End`, optionally with a
/// label (`Successor: "label"`). Doc comments on a node line become the node's note in
/// Mermaid diagrams. An edge to a type that is not a node of the enum does not compile,
/// and neither does a node returning a successor it did not declare. Node types must be
/// `Serialize + DeserializeOwned` (snapshots name the next node with its data).
#[macro_export]
macro_rules! graph {
    (
        $(#[$attr:meta])*
        $vis:vis enum $name:ident {
            type State = $state:ty;
            type Deps = $deps:ty;
            type Output = $output:ty;
            $(
                $(#[doc = $doc:literal])*
                $node:ident => [ $($edges:tt)* ]
            ),+ $(,)?
        }
    ) => {
        $(#[$attr])*
        $vis enum $name {
            $(
                $(#[doc = $doc])*
                $node($node),
            )+
        }

        $(
            impl ::core::convert::From<$node> for $name {
                fn from(node: $node) -> Self {
                    $name::$node(node)
                }
            }
            $crate::__graph_edges!($name; $node; $($edges)*);
        )+

        impl $crate::GraphNodes for $name {
            type State = $state;
            type Deps = $deps;
            type Output = $output;
            const NAME: &'static str = ::core::stringify!($name);
            const NODES: &'static [$crate::NodeInfo] = &[
                $(
                    $crate::NodeInfo {
                        name: ::core::stringify!($node),
                        doc: ::core::concat!($($doc, "\n",)*),
                        edges: $crate::__graph_edge_infos!([] $($edges)*),
                    },
                )+
            ];

            fn node_name(&self) -> &'static str {
                match self {
                    $( $name::$node(_) => ::core::stringify!($node), )+
                }
            }

            fn safe_to_repeat(&self) -> bool {
                match self {
                    $( $name::$node(_) => <$node as $crate::Node<$name>>::SAFE_TO_REPEAT, )+
                }
            }

            fn run_node<'a>(
                &'a self,
                ctx: &'a mut $crate::GraphContext<$state, $deps>,
            ) -> $crate::BoxFuture<'a, ::core::result::Result<$crate::Step<Self>, $crate::NodeError>> {
                match self {
                    $(
                        $name::$node(node) => ::std::boxed::Box::pin(async move {
                            <$node as $crate::Node<$name>>::run(node, ctx)
                                .await
                                .map($crate::Next::into_step)
                        }),
                    )+
                }
            }

            fn to_json(&self) -> ::core::result::Result<$crate::__private::serde_json::Value, $crate::__private::serde_json::Error> {
                match self {
                    $( $name::$node(node) => $crate::__private::serde_json::to_value(node), )+
                }
            }

            fn from_json(
                name: &str,
                data: $crate::__private::serde_json::Value,
            ) -> ::core::result::Result<Self, ::std::string::String> {
                match name {
                    $(
                        ::core::stringify!($node) => $crate::__private::serde_json::from_value::<$node>(data)
                            .map($name::$node)
                            .map_err(|e| ::std::format!("node `{}` does not decode: {}", name, e)),
                    )+
                    _ => ::core::result::Result::Err(::std::format!(
                        "`{}` is not a node of the graph `{}`",
                        name,
                        ::core::stringify!($name)
                    )),
                }
            }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __graph_edges {
    ($g:ident; $from:ident;) => {};
    ($g:ident; $from:ident; End $(: $label:literal)? $(, $($rest:tt)*)?) => {
        impl $crate::EdgeToEnd<$g> for $from {}
        $crate::__graph_edges!($g; $from; $($($rest)*)?);
    };
    ($g:ident; $from:ident; $to:ident $(: $label:literal)? $(, $($rest:tt)*)?) => {
        impl $crate::EdgeTo<$g, $to> for $from {}
        // an edge to a node the graph does not contain does not compile
        const _: fn($to) -> $g = $g::$to;
        $crate::__graph_edges!($g; $from; $($($rest)*)?);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __graph_edge_infos {
    ([$($acc:tt)*]) => { &[$($acc)*] };
    ([$($acc:tt)*] End $(: $label:literal)? $(, $($rest:tt)*)?) => {
        $crate::__graph_edge_infos!(
            [$($acc)* $crate::EdgeInfo { to: ::core::option::Option::None, label: $crate::__graph_label!($($label)?) },]
            $($($rest)*)?
        )
    };
    ([$($acc:tt)*] $to:ident $(: $label:literal)? $(, $($rest:tt)*)?) => {
        $crate::__graph_edge_infos!(
            [$($acc)* $crate::EdgeInfo { to: ::core::option::Option::Some(::core::stringify!($to)), label: $crate::__graph_label!($($label)?) },]
            $($($rest)*)?
        )
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __graph_label {
    () => {
        ::core::option::Option::None
    };
    ($label:literal) => {
        ::core::option::Option::Some($label)
    };
}
