"""gRPC over TLS, with a self-signed certificate made for the test (cryptography, else the openssl CLI)."""

from __future__ import annotations

import datetime
import ipaddress

import grpc
import pytest
from tensorflow_serving.apis import prediction_service_pb2_grpc

from modelserver.server.options import ServerConfig, resolve
from tests.modelserver.harness import predict_request, rpc_code, running_server, write


def self_signed(tmp_path) -> tuple[str, str]:
    """Writes key.pem and cert.pem for CN=localhost, SAN localhost + 127.0.0.1; returns their paths."""
    key_path, cert_path = str(tmp_path / "key.pem"), str(tmp_path / "cert.pem")
    # cryptography is a declared test dependency (setup.py extras "test"): no fallback, no skip.
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    san = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write(tmp_path / "key.pem", pem_key.decode())
    write(tmp_path / "cert.pem", cert.public_bytes(serialization.Encoding.PEM).decode())
    return key_path, cert_path


def secure_stub(port: int, cert_pem: bytes):
    credentials = grpc.ssl_channel_credentials(root_certificates=cert_pem)
    channel = grpc.secure_channel(f"127.0.0.1:{port}", credentials)  # verified against the IP SAN
    return channel, prediction_service_pb2_grpc.PredictionServiceStub(channel)


@pytest.mark.parametrize("form", ["cert_and_key_flags", "ssl_config_file"])
def test_predict_over_tls(model_base, tmp_path, form):
    key_path, cert_path = self_signed(tmp_path)
    cert_pem = open(cert_path, "rb").read()
    if form == "ssl_config_file":  # TF Serving's SSLConfig holds the PEM text itself
        escape = lambda pem: pem.replace("\n", "\\n")  # text-proto strings hold no raw newlines
        text = f'server_key: "{escape(open(key_path).read())}"\nserver_cert: "{escape(cert_pem.decode())}"\n'
        path = write(tmp_path / "ssl.config", text)
        config = ServerConfig(model_base_path=model_base, ssl_config_file=path)
    else:
        config = ServerConfig(model_base_path=model_base, grpc_ssl_cert=cert_path, grpc_ssl_key=key_path)
    credentials = resolve(config).credentials
    with running_server(model_base, rest=False, credentials=credentials) as server:
        channel, stub = secure_stub(server.port, cert_pem)
        with channel:
            response = stub.Predict(predict_request(), timeout=10)
            assert response.model_spec.version.value == 1
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as plain:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(plain)
            assert rpc_code(stub.Predict, predict_request(), timeout=3) == grpc.StatusCode.UNAVAILABLE
