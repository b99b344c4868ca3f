//! Provisioning: the table and the flag parameters created in an emulator (or an account) from
//! the template's definitions.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};

use crate::template::{TemplateError, parameter_definitions, table_definition, template_error};

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("{operation}: {message}")]
    Aws {
        operation: &'static str,
        message: String,
    },
}

fn aws_error<E: std::error::Error + 'static, R: std::fmt::Debug>(
    operation: &'static str,
) -> impl FnOnce(aws_sdk_dynamodb::error::SdkError<E, R>) -> ProvisionError {
    move |e| ProvisionError::Aws {
        operation,
        message: aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string(),
    }
}

/// Creates the table as the template defines it, unless it exists.
pub async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
) -> Result<(), ProvisionError> {
    let def = table_definition()?;
    let mut req = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest);
    for (attr, ty) in &def.attributes {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(attr)
                .attribute_type(ScalarAttributeType::from(ty.as_str()))
                .build()
                .map_err(|e| template_error(e.to_string()))?,
        );
    }
    for (attr, ty) in &def.keys {
        req = req.key_schema(
            KeySchemaElement::builder()
                .attribute_name(attr)
                .key_type(KeyType::from(ty.as_str()))
                .build()
                .map_err(|e| template_error(e.to_string()))?,
        );
    }
    match req.send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) =>
        {
            return Ok(());
        }
        Err(e) => return Err(aws_error("CreateTable")(e)),
    }
    if let Some(attr) = def.ttl_attribute {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(attr)
                    .enabled(true)
                    .build()
                    .map_err(|e| template_error(e.to_string()))?,
            )
            .send()
            .await
            .map_err(aws_error("UpdateTimeToLive"))?;
    }
    Ok(())
}

/// Puts each parameter with the template's value; `overwrite` resets values already there.
pub async fn put_parameters(
    ssm: &aws_sdk_ssm::Client,
    prefix: &str,
    overwrite: bool,
) -> Result<(), ProvisionError> {
    for p in parameter_definitions()? {
        let result = ssm
            .put_parameter()
            .name(format!("{prefix}{}", p.suffix))
            .value(&p.value)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(overwrite)
            .send()
            .await;
        match result {
            Ok(_) => {}
            Err(e)
                if !overwrite
                    && e.as_service_error()
                        .is_some_and(|s| s.is_parameter_already_exists()) => {}
            Err(e) => {
                return Err(ProvisionError::Aws {
                    operation: "PutParameter",
                    message: aws_sdk_ssm::error::DisplayErrorContext(e).to_string(),
                });
            }
        }
    }
    Ok(())
}
