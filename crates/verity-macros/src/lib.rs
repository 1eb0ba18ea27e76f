//! Procedural macros for Verity. See `verity::tool` for the documentation.
#![forbid(clippy::dbg_macro)]

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote};
use syn::{
    Expr, ExprLit, FnArg, GenericArgument, ItemFn, Lit, LitStr, Meta, Pat, PathArguments,
    ReturnType, Type, parse_macro_input,
};

/// Turn a function into a tool. See `verity::tool`.
#[proc_macro_attribute]
pub fn tool(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut options = ToolOptions::default();
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            options.name = Some(meta.value()?.parse::<LitStr>()?.value());
            Ok(())
        } else if meta.path.is_ident("retries") {
            options.retries = Some(meta.value()?.parse::<syn::LitInt>()?.base10_parse()?);
            Ok(())
        } else if meta.path.is_ident("strict") {
            options.strict = true;
            Ok(())
        } else if meta.path.is_ident("requires_approval") {
            options.requires_approval = true;
            Ok(())
        } else {
            Err(meta
                .error("expected `name = \"..\"`, `retries = N`, `strict` or `requires_approval`"))
        }
    });
    parse_macro_input!(attr with parser);
    let func = parse_macro_input!(item as ItemFn);
    match expand(options, func) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

#[derive(Default)]
struct ToolOptions {
    name: Option<String>,
    retries: Option<u32>,
    strict: bool,
    requires_approval: bool,
}

fn camel_case(name: &str) -> String {
    name.split('_')
        .filter(|s| !s.is_empty())
        .map(|s| {
            let mut chars = s.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
                None => String::new(),
            }
        })
        .collect()
}

/// The `D` of a `&RunContext<D>` parameter.
fn context_deps(ty: &Type) -> Option<Type> {
    let Type::Reference(r) = ty else { return None };
    let Type::Path(p) = r.elem.as_ref() else {
        return None;
    };
    let seg = p.path.segments.last()?;
    if seg.ident != "RunContext" {
        return None;
    }
    match &seg.arguments {
        PathArguments::AngleBracketed(args) => args.args.iter().find_map(|a| match a {
            GenericArgument::Type(t) => Some(t.clone()),
            _ => None,
        }),
        _ => Some(syn::parse_quote!(())),
    }
}

/// Whether `ty` names `RunContext` (by value or behind references).
fn names_run_context(ty: &Type) -> bool {
    match ty {
        Type::Reference(r) => names_run_context(&r.elem),
        Type::Path(p) => p
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident == "RunContext"),
        _ => false,
    }
}

fn returns_result(ret: &ReturnType) -> bool {
    match ret {
        ReturnType::Type(_, ty) => match ty.as_ref() {
            Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "Result"),
            _ => false,
        },
        ReturnType::Default => false,
    }
}

fn expand(options: ToolOptions, func: ItemFn) -> syn::Result<TokenStream2> {
    let sig = &func.sig;
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &sig.generics,
            "#[tool] functions cannot be generic",
        ));
    }
    let fn_name = &sig.ident;
    let vis = &func.vis;
    let tool_name = options.name.clone().unwrap_or_else(|| fn_name.to_string());
    let marker = format_ident!("{}", camel_case(&fn_name.to_string()));

    let doc: Vec<String> = func
        .attrs
        .iter()
        .filter_map(|a| match &a.meta {
            Meta::NameValue(nv) if nv.path.is_ident("doc") => match &nv.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    let doc = doc.join("\n");
    if doc.trim().is_empty() {
        return Err(syn::Error::new_spanned(
            fn_name,
            "#[tool] functions need a doc comment: it is the tool's description, which the model reads",
        ));
    }

    let mut deps: Option<Type> = None;
    let mut fields = Vec::new();
    let mut call_args = Vec::new();
    for (i, input) in sig.inputs.iter().enumerate() {
        let FnArg::Typed(pt) = input else {
            return Err(syn::Error::new_spanned(
                input,
                "#[tool] cannot be used on methods",
            ));
        };
        if i == 0
            && let Some(d) = context_deps(&pt.ty)
        {
            deps = Some(d);
            call_args.push(quote!(&__ctx));
            continue;
        }
        if names_run_context(&pt.ty) {
            let message = if matches!(pt.ty.as_ref(), Type::Reference(_)) {
                "the run context must be the tool's first parameter: `ctx: &RunContext<Deps>`"
            } else {
                "take the run context by reference, as the first parameter: `ctx: &RunContext<Deps>`"
            };
            return Err(syn::Error::new_spanned(&pt.ty, message));
        }
        if let Type::Reference(_) = pt.ty.as_ref() {
            return Err(syn::Error::new_spanned(
                &pt.ty,
                "tool parameters must be owned types (use String instead of &str, Vec<T> instead of &[T])",
            ));
        }
        let Pat::Ident(pi) = pt.pat.as_ref() else {
            return Err(syn::Error::new_spanned(
                &pt.pat,
                "#[tool] parameters must be plain names",
            ));
        };
        let ident = &pi.ident;
        let ty = &pt.ty;
        fields.push(quote!(#ident: #ty));
        call_args.push(quote!(__args.#ident));
    }

    let await_call = if sig.asyncness.is_some() {
        quote!(#fn_name(#(#call_args),*).await)
    } else {
        quote!(#fn_name(#(#call_args),*))
    };
    let convert = if returns_result(&sig.output) {
        quote! {
            match __result {
                ::core::result::Result::Ok(v) => ::verity::tools::__to_tool_value(v),
                ::core::result::Result::Err(e) => ::core::result::Result::Err(
                    ::core::convert::Into::<::verity::ToolError>::into(e)),
            }
        }
    } else {
        quote!(::verity::tools::__to_tool_value(__result))
    };
    let retries = match options.retries {
        Some(r) => quote!(::core::option::Option::Some(#r)),
        None => quote!(::core::option::Option::None),
    };
    let strict = if options.strict {
        quote!(::core::option::Option::Some(true))
    } else {
        quote!(::core::option::Option::None)
    };
    let requires_approval = options.requires_approval;
    let (impl_generics, deps_ty) = match &deps {
        Some(d) => (quote!(), quote!(#d)),
        None => (
            quote!(<__D: ::core::marker::Send + ::core::marker::Sync + 'static>),
            quote!(__D),
        ),
    };
    let marker_doc = LitStr::new(
        &format!("The `{tool_name}` tool, made by `#[tool]` from [`{fn_name}`]."),
        Span::call_site(),
    );
    let args_struct = format_ident!("__{}VerityArgs", marker);

    Ok(quote! {
        #func

        #[doc = #marker_doc]
        #[derive(Clone, Copy, Debug, Default)]
        #vis struct #marker;

        const _: () = {
            #[derive(::verity::__private::serde::Deserialize, ::verity::__private::schemars::JsonSchema)]
            #[serde(crate = "::verity::__private::serde")]
            #[schemars(crate = "::verity::__private::schemars")]
            #[allow(non_camel_case_types)]
            struct #args_struct { #(#fields),* }

            impl #impl_generics ::verity::IntoTool<#deps_ty> for #marker {
                fn into_tool(self) -> ::verity::Tool<#deps_ty> {
                    ::verity::tools::__macro_tool::<#deps_ty, #args_struct, _, _>(
                        #tool_name,
                        #doc,
                        #retries,
                        #strict,
                        |__ctx: ::verity::RunContext<#deps_ty>, __args: #args_struct| async move {
                            let _ = &__ctx;
                            let __result = #await_call;
                            #convert
                        },
                    )
                    .with_requires_approval(#requires_approval)
                }
            }
        };
    })
}
