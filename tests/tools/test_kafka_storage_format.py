"""The pinned Kafka's storage tool formats a node whatever its random cluster id looks like."""

from __future__ import annotations

import uuid
from pathlib import Path
from unittest import mock

from tools import kafkanode


def test_a_new_cluster_id_never_starts_with_a_dash() -> None:
    # 0xF8 encodes to "-" as the first base64 character: the storage tool would read
    # such an id as an option, so the first draw must be thrown away.
    dashed = uuid.UUID(bytes=b"\xf8" + b"\x00" * 15)
    plain = uuid.UUID(bytes=b"\x10" * 16)
    with mock.patch.object(kafkanode.uuid, "uuid4", side_effect=[dashed, plain]):
        cluster_id = kafkanode.new_cluster_id()
    assert cluster_id == "EBAQEBAQEBAQEBAQEBAQEA"


def test_storage_formats_with_a_cluster_id_that_starts_with_a_dash(tmp_path: Path) -> None:
    # Ids made elsewhere (an operator's, an older one kept beside dev data) may start with
    # "-"; the format call passes it as --cluster-id=<id> so the parser cannot mistake it.
    dashed_id = "-" + kafkanode.new_cluster_id()[1:]
    node = kafkanode.KafkaNode(
        node_id=1,
        port=kafkanode.free_port(),
        controller_port=kafkanode.free_port(),
        data_dir=tmp_path / "node-1",
        cluster_id=dashed_id,
        lib=kafkanode.ensure_jars(),
    )
    node.format()
    meta = (tmp_path / "node-1" / "log" / "meta.properties").read_text()
    assert f"cluster.id={dashed_id}" in meta
