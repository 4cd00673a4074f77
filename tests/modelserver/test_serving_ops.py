"""Like TF Serving, the server refuses a model that needs ops its binary does not have."""

import grpc
import pytest
from tensorflow_serving.apis import get_model_status_pb2

from modelserver.server.main import ModelServer
from tests.modelserver.tiny_model import save_python_op_model


def test_a_model_with_python_ops_is_refused_at_load(tmp_path):
    save_python_op_model(str(tmp_path / "1"))
    server = ModelServer("pyfunc", str(tmp_path), port=0, poll_seconds=0)
    with pytest.raises(RuntimeError) as err:
        server.start()
    assert "Op type not registered 'EagerPyFunc'" in str(err.value)
    (status,) = server.registry.statuses()
    assert status.state == get_model_status_pb2.ModelVersionStatus.END
    assert status.error_code == grpc.StatusCode.NOT_FOUND and "EagerPyFunc" in status.error_message
