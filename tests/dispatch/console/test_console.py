"""The dispatcher console in headless Chromium against the real stack: MQTT in, the browser's clicks, the API's word."""

from __future__ import annotations

import asyncio
import re
import signal
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Page, Route, expect

from tests.care_record.conftest import elder_body
from tests.dispatch.console.conftest import ARTIFACTS
from tests.platform import DISPATCHER, Platform, eventually, new_device_id

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

ADMIN = {"Authorization": "Bearer dev-admin-token"}
TELEPHONY = {"Authorization": "Bearer dev-telephony-token"}
SEEN = 10_000  # ms: how long a condition the console shows may take (an SOS takes well under a second)


@dataclass
class Console:
    page: Page
    platform: Platform
    errors: list[str] = field(default_factory=list)

    def url(self, path: str = "/console/") -> str:
        return self.platform.url("dispatch", path)

    def row(self, incident_id: str) -> Any:
        return self.page.locator(f'tr[data-incident-id="{incident_id}"]')

    async def sign_in(self, token: str = "dev-dispatcher-token") -> None:
        await self.page.goto(self.url())
        await self.page.get_by_label("访问令牌").fill(token)
        await self.page.get_by_role("button", name="登录").click()
        await expect(self.page.get_by_role("heading", name="待处理事件")).to_be_visible()
        await expect(self.page.locator("#stream-state")).to_have_attribute("data-stream-state", "live", timeout=SEEN)


@pytest_asyncio.fixture(loop_scope="session")
async def console(browser: Any, console_platform: Platform, request: pytest.FixtureRequest) -> AsyncIterator[Console]:
    """A fresh browser context (no cookies) with every page error and console error collected."""
    context = await browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    found = Console(page=page, platform=console_platform)
    page.on("pageerror", lambda exc: found.errors.append(f"pageerror: {exc}"))
    page.on("console", lambda msg: msg.type == "error" and found.errors.append(f"console: {msg.text}"))
    try:
        yield found
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        # Refusals the test provoked on purpose are shown to the user; the browser logs each as a failed load.
        unexpected = [e for e in found.errors if not re.search(r"status of (401|403|409|422)", e)]
        assert unexpected == [], unexpected
    finally:
        await context.close()


async def api(platform: Platform, method: str, path: str, *, expect_status: int = 200, **kwargs: Any) -> Any:
    kwargs.setdefault("headers", DISPATCHER)
    response = await platform.http.request(method, platform.url("dispatch", path), **kwargs)
    assert response.status_code == expect_status, (method, path, response.status_code, response.text)
    return response.json() if response.content else None


async def sos(platform: Platform, device_id: str, *, lat: float = 32.06, lon: float = 118.78) -> dict[str, Any]:
    """An SOS through MQTT and the gateway; the incident dispatch opened for it."""
    await platform.publish(
        device_id,
        "sos",
        {
            "event_id": uuid.uuid4().hex[:12],
            "ts": "2026-11-22T08:15:00Z",
            "battery": 57,
            "location": {"lat": lat, "lon": lon},
        },
    )
    incidents = await eventually(lambda: platform.incidents_for(device_id))
    return incidents[0]


async def seeded_elder(platform: Platform, *, name: str, sim: str, contact_phone: str) -> tuple[str, str]:
    """An elder in care-record wearing a new device with a SIM; (elder id, device id) once dispatch knows them."""
    care = platform.url("care-record", "/api/v1")
    # Born 1938: 80 or over, and living alone, so an SOS of hers is P1 with reasons to show.
    body = elder_body(name=name, birth_date=date(1938, 3, 9), phone="025-8" + str(uuid.uuid4().int)[:7])
    created = await platform.http.post(f"{care}/elders", json=body, headers=ADMIN)
    assert created.status_code == 201, created.text
    elder_id = created.json()["id"]
    device_id = new_device_id()
    bound = await platform.http.post(
        f"{care}/elders/{elder_id}/devices", json={"device_id": device_id, "sim_number": sim}, headers=ADMIN
    )
    assert bound.status_code == 201 and bound.json()["sim_number"] == sim, bound.text
    contacts = [{"name": "张伟", "relation": "儿子", "phone": contact_phone, "has_key": True}]
    put = await platform.http.put(f"{care}/elders/{elder_id}/contacts", json=contacts, headers=ADMIN)
    assert put.status_code == 200, put.text

    async def known() -> dict[str, Any] | None:
        response = await platform.http.get(
            platform.url("dispatch", f"/api/v1/devices/{device_id}/elder"), headers=DISPATCHER
        )
        view = response.json() if response.status_code == 200 else None
        return view if view and view["contacts"] and view["devices"][0]["sim_number"] == sim else None

    await eventually(known, timeout=30)
    return elder_id, device_id


def mobile() -> str:
    return "139" + str(uuid.uuid4().int)[:8]


# ---- tests ---------------------------------------------------------------------------------


async def test_sign_in_sets_a_strict_httponly_cookie_and_a_bad_token_is_told(console: Console) -> None:
    page = console.page
    await page.goto(console.url())
    assert await page.evaluate("document.documentElement.lang") == "zh-CN"
    await page.get_by_label("访问令牌").fill("not-a-token")
    await page.get_by_role("button", name="登录").click()
    await expect(page.get_by_role("alert").filter(has_text="登录失败")).to_be_visible()
    await console.sign_in()
    cookies = {c["name"]: c for c in await page.context.cookies()}
    session = cookies["eldercare_console"]
    assert session["httpOnly"] is True and session["sameSite"] == "Strict"
    assert "dev-dispatcher-token" not in session["value"]
    # The cookie alone works for reads but not for writes: a write needs the CSRF header too.
    status = await page.evaluate("fetch('/api/v1/incidents/none/acknowledge', {method: 'POST'}).then(r => r.status)")
    assert status == 403
    await page.get_by_role("button", name="退出登录").click()
    await expect(page.get_by_label("访问令牌")).to_be_visible()
    assert "eldercare_console" not in {c["name"] for c in await page.context.cookies()}


async def test_an_sos_over_mqtt_becomes_a_p1_row_within_seconds_and_sounds_the_alarm(console: Console) -> None:
    await console.sign_in()
    page = console.page
    alarm = page.locator("[data-alarm]")
    device_id = new_device_id()
    await console.platform.publish(
        device_id, "sos", {"event_id": "c1", "ts": "2026-11-22T08:15:00Z", "location": {"lat": 32.0, "lon": 118.8}}
    )
    row = page.locator("tr[data-incident-id]", has_text=device_id)
    await expect(row).to_have_attribute("data-priority", "P1", timeout=SEEN)
    await expect(row).to_have_attribute("data-state", "open")
    await expect(alarm).to_have_attribute("data-alarm-state", "sounding", timeout=SEEN)
    assert await page.evaluate("!document.getElementById('alarm-sound').paused"), "the alarm sound is not playing"

    # A mute silences it for a while; the alarm stays on screen.
    await page.get_by_role("button", name=re.compile("静音")).click()
    await expect(alarm).to_have_attribute("data-alarm-state", "silent")
    await expect(alarm).to_have_attribute("data-muted", "true")
    await page.get_by_role("button", name=re.compile("取消静音")).click()
    await expect(alarm).to_have_attribute("data-alarm-state", "sounding")

    # Acknowledged elsewhere (another console, the API): the row follows and the alarm stops.
    incident_id = await row.get_attribute("data-incident-id")
    await api(console.platform, "POST", f"/api/v1/incidents/{incident_id}/acknowledge")
    await expect(row).to_have_attribute("data-state", "acknowledged", timeout=SEEN)
    await expect(alarm).to_have_attribute("data-alarm-state", "silent", timeout=SEEN)
    assert await page.evaluate("document.getElementById('alarm-sound').paused")


async def test_acknowledge_assign_and_resolve_through_the_ui_change_the_incident(console: Console) -> None:
    platform = console.platform
    _, device_id = await seeded_elder(
        platform, name="王秀英", sim="1440" + str(uuid.uuid4().int)[:7], contact_phone=mobile()
    )
    helper = await api(
        platform,
        "POST",
        "/api/v1/responders",
        json={
            "kind": "neighbour_helper",
            "name": "刘芳",
            "phone": "13700000001",
            "base": {"lat": 32.065, "lon": 118.775},
            "coverage_radius_km": 20,
            "skills": ["first_aid", "has_key"],
        },
        expect_status=201,
    )
    await console.sign_in()
    incident = await sos(platform, device_id)
    page = console.page
    row = console.row(incident["id"])
    await expect(row).to_contain_text("王秀英", timeout=SEEN)
    # Keyboard: the row takes focus and Enter opens the incident.
    await row.focus()
    await page.keyboard.press("Enter")
    view = page.locator("#incident-body")
    await expect(view).to_have_attribute("data-incident-id", incident["id"])
    await expect(view.locator(".elder-name")).to_have_text("王秀英")
    await expect(view).to_contain_text("独居")  # living situation, translated
    await expect(view).to_contain_text("张伟")  # the contact and their phone
    await expect(view).to_contain_text("57%")  # battery from the alarm
    await expect(view.locator('[data-section="why"] li').first).to_contain_text("基础优先级")
    await expect(view.locator('[data-marker="incident"]')).to_be_visible()
    await expect(view.locator('[data-marker="home"]')).to_be_visible()

    await view.locator('[data-action="acknowledge"]').click()
    await eventually(lambda: _status_is(platform, incident["id"], "acknowledged"))
    # Again: the API refuses (409) and the console says so.
    await view.locator('[data-action="acknowledge"]').click()
    await expect(view.locator(".feedback")).to_contain_text("409")

    await expect(view.locator('[data-marker="responder"]')).to_be_visible(timeout=SEEN)
    await page.get_by_label(re.compile("刘芳")).check()
    await view.locator('[data-action="assign"]').click()

    async def assigned() -> list[Any] | None:
        rows = await api(platform, "GET", f"/api/v1/incidents/{incident['id']}/assignments")
        return rows or None

    assignments = await eventually(assigned)
    assert assignments[0]["responder_id"] == helper["id"]

    await page.get_by_label("备注内容").fill("女儿正在赶来")
    await view.locator('[data-action="note"]').click()
    await eventually(lambda: _has_entry(platform, incident["id"], "note"))

    # A dispatcher may not cancel (supervisors do): the 403 is shown, not swallowed.
    await page.get_by_label("撤销原因").fill("测试")
    await view.locator('[data-action="cancel"]').click()
    await expect(view.locator(".feedback")).to_contain_text("403")

    await page.get_by_label("处理结果").select_option("false_alarm")
    await view.locator('[data-action="resolve"]').click()
    resolved = await eventually(lambda: _status_is(platform, incident["id"], "resolved"))
    assert resolved["outcome"] == "false_alarm"
    await expect(row).to_have_count(0, timeout=SEEN)  # closed incidents leave the queue


async def _status_is(platform: Platform, incident_id: str, status: str) -> dict[str, Any] | None:
    detail = await platform.incident(incident_id)
    return detail if detail["status"] == status else None


async def _has_entry(platform: Platform, incident_id: str, action: str) -> dict[str, Any] | None:
    entries = [e for e in (await platform.incident(incident_id))["timeline"] if e["action"] == action]
    return entries[0] if entries else None


async def test_a_dispatch_restart_is_survived_and_missed_events_replayed(console: Console) -> None:
    platform = console.platform
    await console.sign_in()
    page = console.page
    before = await sos(platform, new_device_id())
    await expect(console.row(before["id"])).to_be_visible(timeout=SEEN)

    # Hold the console's reconnects back until the events it must not miss have happened.
    held = asyncio.Event()
    reconnects: list[str] = []

    async def gate(route: Route) -> None:
        if not held.is_set():
            await route.abort()
            return
        reconnects.append(route.request.url + " " + (route.request.headers.get("last-event-id") or ""))
        await route.continue_()

    await page.route("**/api/v1/incidents/stream**", gate)
    dispatch = platform.stack.processes["dispatch"]
    dispatch.kill(signal.SIGKILL)
    await expect(page.locator("#stream-state")).to_have_attribute("data-stream-state", "down", timeout=SEEN)
    await expect(page.get_by_text("连接已断开")).to_be_visible()
    await dispatch.wait_healthy(timeout=90)
    during = await sos(platform, new_device_id())
    await api(platform, "POST", f"/api/v1/incidents/{before['id']}/acknowledge")
    held.set()

    await expect(console.row(during["id"])).to_have_attribute("data-state", "open", timeout=20_000)
    await expect(console.row(before["id"])).to_have_attribute("data-state", "acknowledged")
    await expect(page.locator("#stream-state")).to_have_attribute("data-stream-state", "live")
    assert reconnects and all(re.search(r"last_event_id=\d+|\s\d+$", r) for r in reconnects), reconnects
    # The failed loads of the stream while dispatch was down are the point of this test.
    console.errors[:] = [e for e in console.errors if "ERR_" not in e and "stream" not in e]


async def test_a_call_from_the_watch_sim_pops_the_elder_and_is_on_the_timeline(console: Console) -> None:
    platform = console.platform
    sim = "1440" + str(uuid.uuid4().int)[:7]
    daughter = mobile()
    elder_id, device_id = await seeded_elder(platform, name="李桂兰", sim=sim, contact_phone=daughter)
    incident = await sos(platform, device_id)
    await console.sign_in()
    page = console.page
    me = await page.evaluate("fetch('/api/v1/console/session').then(r => r.json())")

    call_id = uuid.uuid4().hex
    event = {"call_id": call_id, "event": "ringing", "caller": f"+86 {sim}", "callee": "12349", "agent": me["name"]}
    posted = await platform.http.post(platform.url("dispatch", "/api/v1/calls/events"), json=event, headers=TELEPHONY)
    assert posted.status_code == 201, posted.text
    assert (posted.json()["match_kind"], posted.json()["incident_id"]) == ("sim", incident["id"])

    pop = page.get_by_role("dialog", name="来电")
    await expect(pop).to_be_visible(timeout=SEEN)
    await expect(pop).to_have_attribute("data-elder-id", elder_id)
    await expect(pop).to_contain_text("李桂兰")
    await expect(pop).to_contain_text("设备 SIM 卡来电")
    await expect(page.locator("#incident-body")).to_have_attribute("data-incident-id", incident["id"], timeout=SEEN)
    await expect(page.locator('[data-action-entry="call_ringing"]')).to_be_visible(timeout=SEEN)
    assert await _has_entry(platform, incident["id"], "call_ringing")

    # The daughter calls about her mother: a contact's phone finds the same elder.
    other = {**event, "call_id": uuid.uuid4().hex, "caller": daughter}
    posted = await platform.http.post(platform.url("dispatch", "/api/v1/calls/events"), json=other, headers=TELEPHONY)
    assert posted.json()["match_kind"] == "contact" and posted.json()["elder_id"] == elder_id
    await expect(pop).to_contain_text("联系人来电：张伟 (儿子)", timeout=SEEN)
    assert "null" not in await pop.inner_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "console-call-pop.png"))  # the README's docs/console.png
    await page.get_by_role("button", name="关闭").click()
    await expect(pop).to_be_hidden()


async def test_english_switch_translates_every_label(console: Console) -> None:
    await console.sign_in()
    page = console.page
    await sos(console.platform, new_device_id())
    await expect(page.locator("tr[data-incident-id]").first).to_be_visible(timeout=SEEN)
    await page.get_by_role("button", name="切换到英文").click()
    assert await page.evaluate("document.documentElement.lang") == "en"
    await expect(page.get_by_role("heading", name="Incident queue")).to_be_visible()
    await expect(page.get_by_label("State")).to_be_visible()
    await page.locator("tr[data-incident-id]").first.click()
    await expect(page.locator('[data-action="acknowledge"]')).to_have_text("Acknowledge")
    text = await page.locator("body").inner_text()
    # A label without a translation shows its key (i18n.js): none may be left.
    leftovers = re.findall(r"\b(?:state|kind|priority|outcome|command|action|elder|map|entry)\.[a-z_]+\b", text)
    assert leftovers == [], leftovers
    # Chinese is left only where it is data (names, addresses) or the switch back to Chinese.
    labels = '[data-section="actions"] :is(h3, legend, button, label:not([for^="candidate-"]), option)'
    for part in ("#stream-state", "#alarm", "#sign-out", ".queue thead", "#filter-state", labels):
        for shown in await page.locator(part).all_inner_texts():
            assert not re.search(r"[\u4e00-\u9fff]", shown), (part, shown)
