# Two commands matter: `make run` and `make test`. Both install what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Apache Kafka's jars (infra/kafka/pom.xml) are resolved from Maven Central into var/kafka once.
KAFKA_JARS := var/kafka/.resolved-$(shell sha256sum infra/kafka/pom.xml | cut -c1-16)

.PHONY: run test test-faults audit test-fast lint lock proto proto-check system-deps kafka-jars venv wipe clean seed bench soak bench-deps

# Locked, hashed dependencies first (requirements/dev.lock: runtime + dev tools, every file's
# sha256), then the project itself without resolving anything: an editable install has no hash.
$(STAMP): pyproject.toml requirements/dev.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r requirements/dev.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

venv: $(STAMP)

# Debian packages the local stack and the tests use; installed when missing and we are root.
system-deps:
	@missing=""; \
	command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || missing="$$missing mosquitto"; \
	command -v mosquitto_pub >/dev/null || missing="$$missing mosquitto-clients"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v docker-compose >/dev/null || missing="$$missing docker-compose"; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	command -v prometheus-alertmanager >/dev/null || missing="$$missing prometheus-alertmanager"; \
	command -v java >/dev/null || missing="$$missing openjdk-17-jre-headless"; \
	command -v mvn >/dev/null || missing="$$missing maven"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	[ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing="$$missing fonts-wqy-microhei"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "missing system packages:$$missing -- install them with: sudo apt-get install$$missing" >&2; exit 1; \
	  fi; \
	fi

# The pinned Kafka broker's jars; a second run resolves nothing (tools/kafkanode.py keys them by the pom).
$(KAFKA_JARS): infra/kafka/pom.xml $(STAMP)
	$(PY) -c 'from tools.kafkanode import ensure_jars; print("kafka jars:", ensure_jars(quiet=False))'
	@touch $(KAFKA_JARS)

kafka-jars: system-deps $(KAFKA_JARS)

proto: $(STAMP)
	$(PY) -m grpc_tools.protoc -I proto --python_out=. --pyi_out=. proto/eldercare/v1/*.proto

run: system-deps $(STAMP) $(KAFKA_JARS)
	$(PY) -m tools.devstack

# A demo population (300 elders with devices, contacts, assessments, visits) in care-record's
# database; idempotent. With `make run` up, dispatch shows the elders within seconds.
seed: $(STAMP)
	$(PY) -m services.care_record.seed

test: system-deps $(STAMP) $(KAFKA_JARS)
	$(PY) -m pytest -q -p no:cacheprovider

# The whole fault suite (docs/faults.md): 30 s outages and hangs, every scenario; `make test`
# runs the lean part (the kills and the broker restart). The audit table lands in var/.
test-faults: system-deps $(STAMP) $(KAFKA_JARS)
	@mkdir -p var
	FAULT_SUITE=full FAULT_REPORT=var/faults-report.md $(PY) -m pytest -q -p no:cacheprovider -s tests/e2e/faults

# pip-audit over requirements/dev.lock (the image's runtime.lock is part of it); exit 2 means
# "could not audit everything", never "clean".
audit: $(STAMP)
	$(PY) .ci/audit.py

# Benchmarks (docs/performance.md): own brokers and databases; results in bench/results/.
# The bench extra (confluent-kafka) is in requirements/dev.lock already.
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP)
	@touch $(BENCH_STAMP)

bench-deps: $(BENCH_STAMP)

bench: system-deps $(BENCH_STAMP) $(KAFKA_JARS)
	$(PY) -m bench $(BENCH_ARGS)

SOAK_MINUTES ?= 10
soak: system-deps $(BENCH_STAMP) $(KAFKA_JARS)
	$(PY) -m bench --phases soak --soak-minutes $(SOAK_MINUTES)

# Re-resolve the lock files after editing pyproject.toml's dependencies (pip-tools in a venv of its
# own, so it never enters the project's); pins already in a lock file are kept unless UPGRADE=1.
LOCK_VENV := var/lock-venv
PIP_COMPILE := $(LOCK_VENV)/bin/pip-compile --quiet --generate-hashes --no-strip-extras --allow-unsafe --all-build-deps --no-emit-find-links $(if $(UPGRADE),--upgrade)
lock:
	@test -x $(LOCK_VENV)/bin/pip-compile || { $(PYTHON) -m venv $(LOCK_VENV) && $(LOCK_VENV)/bin/pip install --quiet pip-tools==7.7.0; }
	$(PIP_COMPILE) -o requirements/runtime.lock pyproject.toml
	$(PIP_COMPILE) --extra dev -o requirements/dev.lock pyproject.toml

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy eldercare gateway services tools

# Wipe make run's durable dev data (Kafka log, PostgreSQL, Mosquitto, Prometheus, Alertmanager) but keep the jar cache.
wipe:
	rm -rf var/kafka/dev var/postgres var/mosquitto-* var/prometheus-* var/alertmanager-* var/*.db

clean:
	rm -rf var/ .pytest_cache
