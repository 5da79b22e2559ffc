# syntax=docker/dockerfile:1
# clusterdns: a drop-in image for CoreDNS's place in kube-system.
#
#   docker build --build-arg SOURCE_URL="$(git remote get-url origin)" \
#                --build-arg REVISION="$(git rev-parse HEAD)" -t clusterdns:0.1.0 .
#
# Stage "build" makes wheels of clusterdns and of everything it needs (uvloop included, from
# the "speed" extra); every dependency ships binary wheels, and the slim image has no compiler,
# so a dependency that would need one fails the build instead of slipping into the image. The
# runtime stage installs those wheels from a bind mount, so neither the wheels nor the source
# tree end up in a layer of the final image.
#
# Port 53 without root: Linux lets only a process holding CAP_NET_BIND_SERVICE bind ports
# below 1024. Kubernetes adds a capability to the container's bounding and permitted sets, but
# for a non-root user execve() clears the permitted set again unless the executable carries the
# capability as a file capability (there are no ambient capabilities in a pod spec). So, as
# CoreDNS's image does with setcap on /coredns, the interpreter that runs clusterdns carries
# cap_net_bind_service=+ep. Because that interpreter is a script's "#!" line, it has to be the
# Python binary; to keep every other Python in the image unprivileged, clusterdns gets its own
# virtual environment with a copied (not symlinked) interpreter, and only that copy carries the
# capability. With allowPrivilegeEscalation: false (no_new_privs) the kernel still honours a
# file capability that the process already holds in its permitted set, which is why the
# manifest must add NET_BIND_SERVICE (deploy/deployment.yaml does, as CoreDNS's manifests do).
# The capability is written with Python's os.setxattr (the bytes "setcap
# cap_net_bind_service=+ep" writes: VFS_CAP_REVISION_2, effective, permitted bit 10), so the
# image needs no libcap package.

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY clusterdns/ clusterdns/
COPY plugins/ plugins/
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[speed]"

FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
# Keep VERSION equal to pyproject.toml's version (tests/deploy/test_dockerfile.py checks it).
ARG VERSION=0.1.0
ARG SOURCE_URL=""
ARG REVISION=""
LABEL org.opencontainers.image.title="clusterdns" \
      org.opencontainers.image.description="CoreDNS-compatible Kubernetes cluster DNS server" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/clusterdns/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m venv --copies --without-pip /opt/clusterdns \
    && python -m pip --python /opt/clusterdns/bin/python install --no-cache-dir --no-index \
        --find-links=/wheels "clusterdns[speed]==${VERSION}" \
    && python -c 'import os, struct; os.setxattr(os.path.realpath("/opt/clusterdns/bin/python"), "security.capability", struct.pack("<5I", 0x02000001, 1 << 10, 0, 0, 0))' \
    && /opt/clusterdns/bin/clusterdns -version \
    && groupadd --system --gid 65532 clusterdns \
    && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin clusterdns
# Numeric, so that a pod's runAsNonRoot can verify it without reading /etc/passwd.
USER 65532:65532
WORKDIR /
EXPOSE 53/udp 53/tcp 9153 8080 8181
ENTRYPOINT ["/opt/clusterdns/bin/clusterdns"]
CMD ["-conf", "/etc/coredns/Corefile"]
