"""Processor settings (`MMSTREAM_PROCESSOR_*`): thresholds of every agent, validated at start-up."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings

from mmstream.core.settings import settings_config


class ProcessorSettings(BaseSettings):
    model_config = settings_config("MMSTREAM_PROCESSOR_")

    data_dir: Path = Field(default=Path("var"), alias="MMSTREAM_DATA_DIR")
    app_id: str = Field(default="mmstream-processors", description="Faust app id = consumer group")
    metrics_port: int = Field(default=0, ge=0, le=65535)
    ready_max_lag: int = Field(
        default=10_000, ge=0, description="records behind on its partitions: /readyz fails above"
    )
    web_port: int = Field(default=0, ge=0, le=65535, description="Faust web UI; 0 = off")
    processing_guarantee: str = Field(
        default="at_least_once",
        pattern="^(at_least_once|exactly_once)$",
        description="Faust processing guarantee; exactly_once needs Apache Kafka (transactions)",
    )
    batch_size: int = Field(default=500, ge=1, description="most events per agent batch")
    batch_within_s: float = Field(
        default=0.005,
        gt=0,
        description="a batch takes what arrived within this (a full batch goes at once)",
    )
    tick_interval_s: float = Field(default=0.5, gt=0)
    # failure path (see README "Failure behaviour")
    lag_interval_s: float = Field(default=1.0, gt=0, description="consumer-lag metric period")
    stall_after_s: float = Field(
        default=30.0, gt=0, description="lag and nothing processed this long = stalled"
    )
    test_fail_keys: str = Field(
        default="",
        description="fault injection for tests only: comma-separated record keys whose "
        "processing raises InjectedFault (empty in production)",
    )
    # hedge join
    hedge_deadline_s: float = Field(default=5.0, gt=0, description="fill → enough hedge stake")
    retention_s: float = Field(default=3600.0, gt=0, description="drop orders idle this long")
    closed_retention_s: float = Field(default=600.0, gt=0, description="remember settled orders")
    stake_epsilon: float = Field(default=0.005, ge=0)
    # emergency
    exposure_limit: float = Field(default=5000.0, gt=0, description="total unhedged stake")
    rejection_window_s: float = Field(default=60.0, gt=0)
    rejection_threshold: int = Field(default=5, ge=1)
    mmapi_silence_s: float = Field(default=120.0, gt=0, description="2 x the 60 s heartbeat")
    predexon_silence_s: float = Field(default=120.0, gt=0)
    # score reconciliation (README: "Score reconciliation")
    max_lag_s: float = Field(
        default=10.0, ge=0, description="trailing the other provider this long = catching up"
    )
    conflict_grace_s: float = Field(
        default=2.0, ge=0, description="a disagreement lag cannot explain, this long = conflict"
    )
    resolve_hysteresis_s: float = Field(
        default=2.0, ge=0, description="agreement this long resolves a conflict / stale alert"
    )
    stale_intervals: float = Field(
        default=3.0, gt=0, description="silent for this many of the other's update intervals"
    )
    stale_s: float = Field(default=60.0, gt=0, description="silence threshold's upper bound")
    out_of_order_grace_s: float = Field(default=2.0, ge=0)
