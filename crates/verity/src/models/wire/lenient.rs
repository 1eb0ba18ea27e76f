//! Lenient one-pass reading of provider objects: every known field optional, unknown
//! fields kept, nothing buffered.

/// A map key, borrowed from the input when it has no escapes.
pub(crate) struct Key<'de>(pub(crate) std::borrow::Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> std::result::Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> std::result::Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// A struct of optional known fields, with the other fields kept in `extra` (and the
/// fields in `ignore` skipped), read in one pass without buffering.
macro_rules! lenient_struct {
    ($name:ident { $($field:ident : $ty:ty),* $(,)? } ignore [$($skip:literal),*]) => {
        #[derive(Debug, Default)]
        struct $name {
            $($field: Option<$ty>,)*
            extra: ::serde_json::Map<String, ::serde_json::Value>,
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str(stringify!($name))
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<$name, A::Error> {
                        let mut out = $name::default();
                        while let Some($crate::models::wire::Key(key)) = map.next_key::<$crate::models::wire::Key<'de>>()? {
                            match key.as_ref() {
                                $(stringify!($field) => out.$field = map.next_value()?,)*
                                $($skip => { map.next_value::<serde::de::IgnoredAny>()?; })*
                                _ => {
                                    // nulls are "absent" everywhere these are read
                                    let v: ::serde_json::Value = map.next_value()?;
                                    if !v.is_null() {
                                        out.extra.insert(key.into_owned(), v);
                                    }
                                }
                            }
                        }
                        Ok(out)
                    }
                }
                d.deserialize_map(V)
            }
        }
    };
}
pub(crate) use lenient_struct;
