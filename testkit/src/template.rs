//! The deployment template, `infra/template.yaml`: the one source of the table's and the
//! parameters' definitions, read as SAM declares them.

use std::collections::BTreeMap;

use serde_norway::Value;

/// The deployment template.
pub const TEMPLATE: &str = include_str!("../../infra/template.yaml");

/// The template lacks or misshapes something the local stack reads from it.
#[derive(Debug, thiserror::Error)]
#[error("infra/template.yaml: {0}")]
pub struct TemplateError(String);

pub(crate) fn template_error(msg: impl Into<String>) -> TemplateError {
    TemplateError(msg.into())
}

/// The table as the template defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDefinition {
    /// (name, type) of each key attribute.
    pub attributes: Vec<(String, String)>,
    /// (name, HASH|RANGE).
    pub keys: Vec<(String, String)>,
    pub ttl_attribute: Option<String>,
}

/// A parameter as the template defines it, its name relative to the prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterDefinition {
    pub suffix: String,
    pub value: String,
}

/// The template's `Resources`, by logical id.
pub fn resources() -> Result<BTreeMap<String, Value>, TemplateError> {
    let doc: Value = serde_norway::from_str(TEMPLATE).map_err(|e| template_error(e.to_string()))?;
    let resources = doc
        .get("Resources")
        .cloned()
        .ok_or_else(|| template_error("no Resources"))?;
    serde_norway::from_value(resources).map_err(|e| template_error(e.to_string()))
}

pub(crate) fn of_type(resources: &BTreeMap<String, Value>, ty: &str) -> Vec<Value> {
    resources
        .values()
        .filter(|r| r.get("Type").and_then(Value::as_str) == Some(ty))
        .filter_map(|r| r.get("Properties").cloned())
        .collect()
}

pub(crate) fn str_at<'v>(v: &'v Value, key: &str) -> Result<&'v str, TemplateError> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| template_error(format!("{key} is not a string")))
}

pub fn table_definition() -> Result<TableDefinition, TemplateError> {
    let tables = of_type(&resources()?, "AWS::DynamoDB::Table");
    let [table] = tables.as_slice() else {
        return Err(template_error("expected exactly one AWS::DynamoDB::Table"));
    };
    let list = |key: &str, a: &str, b: &str| -> Result<Vec<(String, String)>, TemplateError> {
        table
            .get(key)
            .and_then(Value::as_sequence)
            .ok_or_else(|| template_error(format!("{key} is not a list")))?
            .iter()
            .map(|e| Ok((str_at(e, a)?.to_owned(), str_at(e, b)?.to_owned())))
            .collect()
    };
    Ok(TableDefinition {
        attributes: list("AttributeDefinitions", "AttributeName", "AttributeType")?,
        keys: list("KeySchema", "AttributeName", "KeyType")?,
        ttl_attribute: table
            .get("TimeToLiveSpecification")
            .map(|t| str_at(t, "AttributeName").map(str::to_owned))
            .transpose()?,
    })
}

pub fn parameter_definitions() -> Result<Vec<ParameterDefinition>, TemplateError> {
    of_type(&resources()?, "AWS::SSM::Parameter")
        .iter()
        .map(|p| {
            // Name: !Sub "${ParameterPrefix}/system-version"
            let name = match p.get("Name") {
                Some(Value::Tagged(t)) => t.value.as_str(),
                Some(v) => v.as_str(),
                None => None,
            }
            .ok_or_else(|| template_error("a parameter has no Name"))?;
            let suffix = name.strip_prefix("${ParameterPrefix}").ok_or_else(|| {
                template_error(format!("{name} is not under ${{ParameterPrefix}}"))
            })?;
            Ok(ParameterDefinition {
                suffix: suffix.to_owned(),
                value: str_at(p, "Value")?.to_owned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_defines_the_table_the_store_uses() {
        let t = table_definition().unwrap();
        let keys: Vec<_> = t
            .keys
            .iter()
            .map(|(n, k)| (n.as_str(), k.as_str()))
            .collect();
        assert_eq!(
            keys,
            [(credits::store::PK, "HASH"), (credits::store::SK, "RANGE")]
        );
        assert_eq!(
            t.ttl_attribute.as_deref(),
            Some(credits::store::TTL_ATTRIBUTE)
        );
    }

    #[test]
    fn the_template_defines_the_parameters_with_phase_one_values() {
        let mut p: Vec<_> = parameter_definitions()
            .unwrap()
            .into_iter()
            .map(|p| (p.suffix, p.value))
            .collect();
        p.sort();
        assert_eq!(
            p,
            [
                ("/enable-purchases".to_owned(), "true".to_owned()),
                (
                    "/feature-prices".to_owned(),
                    r#"{"ai_generation": 10, "pdf_export": 3}"#.to_owned()
                ),
                ("/system-version".to_owned(), "v1".to_owned())
            ]
        );
        let names = credits::flags::parameter_names("");
        assert!(names.iter().all(|n| p.iter().any(|(s, _)| s == n)));
        assert_eq!(credits::prices::parameter_name(""), "/feature-prices");
        let prices = &p[1].1;
        assert_eq!(
            credits::rules::prices::parse_price_list(prices).map(|l| l.len()),
            Ok(2)
        );
    }
}
