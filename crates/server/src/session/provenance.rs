//! Tool-call provenance stamped by the daemon, so every client (and every
//! replayed `tool_call_update`) can tell builtin, MCP and sub-agent calls
//! apart.

use serde_json::{Value, json};
use switchyard_core::Provenance;

/// Stamps `_meta.provenance` (+ `serverId`) on tool calls that do not carry
/// one: sub-agent markers win, then the `mcp__<server>__<tool>` naming rule
/// on `_meta.toolName` or the title, else builtin.
pub(super) fn stamp_provenance(update: &mut Value) {
    let kind = update.get("sessionUpdate").and_then(Value::as_str);
    if !matches!(kind, Some("tool_call" | "tool_call_update")) {
        return;
    }
    let Some(obj) = update.as_object_mut() else {
        return;
    };
    let title = obj.get("title").and_then(Value::as_str).map(String::from);
    let meta = obj.entry("_meta").or_insert_with(|| json!({}));
    let Some(meta) = meta.as_object_mut() else {
        return;
    };
    if meta.contains_key("provenance") {
        return;
    }
    let provenance = if meta.contains_key("subagent") || meta.contains_key("parentToolCallId") {
        Provenance::Subagent
    } else {
        meta.get("toolName")
            .and_then(Value::as_str)
            .map(String::from)
            .or(title)
            .map_or(Provenance::Builtin, |n| Provenance::from_tool_name(&n))
    };
    meta.insert("provenance".into(), provenance.as_str().into());
    if let Some(s) = provenance.server_id() {
        meta.insert("serverId".into(), s.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provenance_is_stamped_once() {
        let mut u = json!({"sessionUpdate": "tool_call", "toolCallId": "t", "title": "x",
                           "_meta": {"toolName": "mcp__gh__search"}});
        stamp_provenance(&mut u);
        assert_eq!(u["_meta"]["provenance"], "mcp");
        assert_eq!(u["_meta"]["serverId"], "gh");
        let mut u = json!({"sessionUpdate": "tool_call_update", "toolCallId": "t",
                           "_meta": {"provenance": "subagent"}});
        stamp_provenance(&mut u);
        assert_eq!(u["_meta"]["provenance"], "subagent");
        let mut u = json!({"sessionUpdate": "tool_call", "toolCallId": "t", "title": "Read file"});
        stamp_provenance(&mut u);
        assert_eq!(u["_meta"]["provenance"], "builtin");
        let mut u = json!({"sessionUpdate": "plan", "entries": []});
        stamp_provenance(&mut u);
        assert!(u.get("_meta").is_none());
    }
}
