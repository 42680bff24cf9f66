FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY events ./events
COPY projections ./projections
COPY service ./service
# constraints.txt pins every dependency (the lock the tests ran with): the image gets what CI tested
RUN pip install --no-cache-dir --prefix=/install -c constraints.txt .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 telephony && mkdir /data && chown telephony /data
COPY --from=build /install /usr/local
USER telephony
ENV TELEPHONY_DATA_DIR=/data
EXPOSE 8000
# exec form: the server is PID 1 and receives SIGTERM directly for a clean shutdown
ENTRYPOINT ["telephony-settings", "serve", "--host", "0.0.0.0", "--port", "8000"]
