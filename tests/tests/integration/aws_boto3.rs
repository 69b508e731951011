//! boto3 against kms-svc's AWS JSON port (tests/python/boto3_kms.py): the lab's KMS
//! steps, and each bad input raising boto3's modelled exception class (ClientError
//! where KMS's model has none) with AWS's code, message and HTTP status; every bad
//! input of kms-svc's catalogue (keyhold_tests::kms_bad_inputs) through
//! tests/python/boto3_bad_inputs.py.

use keyhold_tests::{
    KmsHarness, Who,
    kms::{USER1_ARN, console_policy},
    kms_bad_inputs::{BadInput, Fixture, PHASES},
    texts::{KMS_ARN_PREFIX, decrypt_denied},
    tools::python_with_moto,
};
use serde_json::{Value, json};

/// tests/python/`script` with boto3, as the lab user against `kms`'s AWS port, with
/// nothing of the machine's AWS configuration (HOME and the AWS files in `dir`).
fn boto3_script(kms: &KmsHarness, dir: &std::path::Path, script: &str) -> tokio::process::Command {
    let (access_key, secret) = Who::User1.credentials().unwrap();
    let mut command = tokio::process::Command::new(python_with_moto());
    command
        .arg(format!("{}/python/{script}", env!("CARGO_MANIFEST_DIR")))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("AWS_ENDPOINT_URL_KMS", kms.aws_endpoint())
        .env("AWS_ACCESS_KEY_ID", access_key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", dir.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("credentials"));
    command
}

#[tokio::test]
async fn boto3_sees_aws_exceptions_and_messages() {
    let kms = KmsHarness::start().await;
    let dir = kms.workdir.join("boto3");
    std::fs::create_dir_all(&dir).unwrap();
    let with_user = dir.join("with-user.json");
    let without_user = dir.join("without-user.json");
    std::fs::write(&with_user, console_policy(&[USER1_ARN], &[USER1_ARN])).unwrap();
    std::fs::write(&without_user, console_policy(&[USER1_ARN], &[])).unwrap();
    let output = boto3_script(&kms, &dir, "boto3_kms.py")
        .env("POLICY_WITH_USER", &with_user)
        .env("POLICY_WITHOUT_USER", &without_user)
        .output()
        .await
        .expect("run boto3");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let arn = seen["arn"].as_str().unwrap().to_owned();
    let error = |class: &str, code: &str, message: &str, status: u16| json!({"class": class, "code": code, "message": message, "status": status});
    assert_eq!(seen["creation_date_is_a_datetime"], true);
    assert_eq!(seen["decrypted"], "lab secret");
    assert_eq!(seen["wrong_context"]["class"], "InvalidCiphertextException");
    assert_eq!(
        seen["revoked"],
        error(
            "ClientError",
            "AccessDeniedException",
            &decrypt_denied(USER1_ARN, &arn),
            400
        )
    );
    assert_eq!(
        seen["missing_key"],
        error(
            "NotFoundException",
            "NotFoundException",
            &format!(
                "Key '{KMS_ARN_PREFIX}:key/1234abcd-12ab-34cd-56ef-1234567890ab' does not exist"
            ),
            404
        )
    );
    assert_eq!(
        seen["alias_taken"],
        error(
            "AlreadyExistsException",
            "AlreadyExistsException",
            &format!("An alias with the name {KMS_ARN_PREFIX}:alias/myFirstKey already exists"),
            409
        )
    );
    assert_eq!(
        seen["disabled"],
        error(
            "DisabledException",
            "DisabledException",
            &format!("{arn} is disabled."),
            409
        )
    );
    assert_eq!(
        seen["window_6"],
        error(
            "ClientError",
            "ValidationException",
            "1 validation error detected: Value '6' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value greater than or equal to 7",
            400
        )
    );
}

/// `tests/python/boto3_bad_inputs.py` over `cases`: what boto3 raised for each.
async fn boto3_outcomes(kms: &KmsHarness, cases: &[BadInput]) -> Vec<Value> {
    use tokio::io::AsyncWriteExt;
    let dir = kms.workdir.join("boto3-bad-inputs");
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = boto3_script(kms, &dir, "boto3_bad_inputs.py")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run boto3");
    let input = serde_json::to_vec(cases).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&input).await.unwrap();
    drop(stdin);
    let output = child.wait_with_output().await.unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON")
}

#[tokio::test]
async fn boto3_raises_each_bad_inputs_exception_with_its_message() {
    let kms = KmsHarness::start().await;
    let mut user = kms.client(Who::User1);
    let fixture = Fixture::make(&mut user).await;
    let mut wrong = Vec::new();
    let mut checked = 0;
    for phase in PHASES {
        let cases = fixture.phases(&mut user, phase).await;
        let seen = boto3_outcomes(&kms, &cases).await;
        assert_eq!(seen.len(), cases.len());
        for (case, seen) in cases.iter().zip(&seen) {
            checked += 1;
            // boto3 raises the modelled class of the code where KMS's model has one.
            let class_ok = seen["modelled"] == false || seen["class"] == case.exception;
            if seen["code"] != case.exception
                || seen["message"] != case.message.as_str()
                || !class_ok
            {
                let request: String = case.request.to_string().chars().take(160).collect();
                wrong.push(format!(
                    "{phase:?} {} {request}: {seen}, expected {} {:?}",
                    case.operation, case.exception, case.message
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(checked >= 40, "{checked} bad inputs");
}
