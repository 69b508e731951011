//! keyhold's AWS JSON shapes against AWS's own service models (botocore's, which the
//! AWS CLI and boto3 send and parse by): every operation keyhold serves exists in the
//! model, and every member keyhold reads or writes, at every depth, has the model's
//! name. A renamed field, or a proto field added without its AWS name, fails here
//! before any client meets it.

use keyhold_platform::{aws_json::translate::aws_members, catalog::MethodCatalog};
use keyhold_tests::tools::python_with_moto;
use prost_reflect::MessageDescriptor;
use serde_json::Value;

/// Where `message`'s members (at every depth) are missing from the model's `tree`.
fn missing(message: &MessageDescriptor, tree: &Value, path: &str, out: &mut Vec<String>) {
    for (name, nested) in aws_members(message) {
        let member_path = format!("{path}.{name}");
        match tree.get(&name) {
            None => out.push(member_path),
            Some(subtree) => {
                if let Some(nested) = nested {
                    missing(&nested, subtree, &member_path, out);
                }
            }
        }
    }
}

#[tokio::test]
async fn every_member_keyhold_serves_has_the_name_of_awss_model() {
    let output = tokio::process::Command::new(python_with_moto())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/python/botocore_members.py"
        ))
        .args(["kms", "cloudtrail"])
        .output()
        .await
        .expect("run botocore");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let models: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let catalog = MethodCatalog::new(keyhold_proto::descriptor_pool());
    let mut wrong = Vec::new();
    let mut checked = 0;
    for (service, protocol) in [
        ("kms", &kms_svc::aws::PROTOCOL),
        ("cloudtrail", &audit_svc::aws::PROTOCOL),
    ] {
        for method in catalog.methods().filter(|m| protocol.serves(m)) {
            checked += 1;
            let Some(model) = models[service].get(&method.name) else {
                wrong.push(format!("{service} has no operation {}", method.name));
                continue;
            };
            let input = format!("{service}:{}.input", method.name);
            missing(&method.input, &model["input"], &input, &mut wrong);
            let output = format!("{service}:{}.output", method.name);
            missing(&method.output, &model["output"], &output, &mut wrong);
        }
    }
    assert!(
        wrong.is_empty(),
        "not in AWS's models:\n{}",
        wrong.join("\n")
    );
    assert!(checked >= 30, "{checked} operations");
}
