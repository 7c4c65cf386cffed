"""Commits and jobs: type=commit and `validate full` make a job. Jobs run one at a time, as PAN-OS 7.1+ does:
one requested while another runs waits in the commit queue (status PEND, queued YES) up to the platform's
commit_queue_limit, and only a request beyond that is refused. A job snapshots the candidate when it starts,
stays ACT for commit_seconds, then validates the snapshot and (for a commit) makes it the running configuration
and clears the change marks it took."""
import time

from lxml import etree

from tests.simulators.panos.dirty import clear_committed, is_marked, unmarked
from tests.simulators.panos.validation import validate_config
from tests.simulators.panos.xmlapi import ApiError, illegal, job_enqueued, panos_time, parse_xml, success, uint


class Commits(object):
    """Mixin of PanosSimulator: ``self._jobs`` (id -> job) and the commit counters; `show jobs` and `validate`."""

    def _queued_jobs(self):
        return [job for job in self._jobs.values() if job["status"] == "PEND"]

    def _refuse_if_queue_full(self):
        running = any(job["status"] == "ACT" for job in self._jobs.values())
        if running and len(self._queued_jobs()) >= self.commit_queue_limit:
            # What a full queue answers is not public; this is PAN-OS's answer to a commit it cannot take now.
            raise ApiError(13, "Another commit/validate is in progress. Please try again later")

    def _finish_due_jobs(self, now):
        """Finish the running job when its time is up, then start the next queued one at that moment."""
        while True:
            active = next((job for job in self._jobs.values() if job["status"] == "ACT"), None)
            if active is not None:
                if now < active["ends"]:
                    return
                self._finish_job(active)
                started = active["ends"]
            else:
                started = now
            queued = self._queued_jobs()
            if not queued:
                return
            self._start_job(queued[0], started)     # finished by the next turn if its time is already up

    def _pending(self):
        candidate = unmarked(self._candidate) if is_marked(self._candidate) else self._candidate
        return etree.tostring(candidate) != etree.tostring(self._running)

    def _commit(self, params):
        action = params.get("action")
        if action not in (None, "", "partial"):
            raise illegal("action", action)
        cmd = parse_xml(params.get("cmd") or "<commit/>", "cmd")
        if cmd.tag != "commit":
            raise ApiError(17, "%s is unexpected" % cmd.tag)
        for child in cmd:
            if child.tag not in ("description", "partial", "force"):
                raise ApiError(17, "commit -> %s is unexpected" % child.tag)
        self._refuse_if_queue_full()
        force = cmd.find("force") is not None
        admins = [(m.text or "").strip() for m in cmd.findall("partial/admin/member")]
        mine = not admins or self.username in admins
        if not force and (not self._pending() or not mine):
            return success(code=19, msg="There are no changes to commit.")
        job = self._new_job("Commit", description=cmd.findtext("description"))
        self._commits += 1
        return job_enqueued("Commit", job["id"])

    def _new_job(self, kind, description=None):
        now = self._now()
        job = {"id": self._next_job, "type": kind, "user": self.username, "status": "PEND", "result": "PEND",
               "tenq": now, "tdeq": None, "ends": None, "tfin": None, "description": description or "",
               "details": [], "warnings": [], "snapshot": None, "dirty_id": None}
        self._next_job += 1
        self._jobs[job["id"]] = job
        self._finish_due_jobs(now)           # starts it at once unless another job runs
        return job

    def _start_job(self, job, when):
        job.update(status="ACT", tdeq=when, ends=when + self.commit_seconds, snapshot=unmarked(self._candidate),
                   dirty_id=self._dirty_id)

    def _finish_job(self, job):
        errors = validate_config(job["snapshot"])
        job["status"] = "FIN"
        job["tfin"] = job["ends"]
        if errors:
            job["result"] = "FAIL"
            job["details"] = ["Validation Error:"] + errors
            if job["type"] == "Commit":
                job["details"].append("Commit failed")
                self._commits_failed += 1
        else:
            job["result"] = "OK"
            if job["type"] == "Commit":
                self._running = job["snapshot"]
                clear_committed(self._candidate, job["dirty_id"])
                job["details"] = ["Configuration committed successfully"]
            else:
                job["details"] = ["Configuration is valid"]
        job["snapshot"] = None

    def _job_element(self, job):
        now = self._now()
        entry = etree.Element("job")
        queued = job["status"] == "PEND"
        active = job["status"] == "ACT"
        if active:
            progress = int(min(99, 100 * (now - job["tdeq"]) / max(self.commit_seconds, 1e-6)))
        else:
            progress = 0 if queued else 100
        position = self._queued_jobs().index(job) + 1 if queued else 0
        values = (
            ("tenq", panos_time(job["tenq"])),
            ("tdeq", time.strftime("%H:%M:%S", time.localtime(job["tdeq"])) if job["tdeq"] is not None else ""),
            ("id", str(job["id"])), ("user", job["user"]), ("type", job["type"]), ("status", job["status"]),
            ("queued", "YES" if queued else "NO"), ("stoppable", "no" if job["status"] == "FIN" else "yes"),
            ("result", job["result"]), ("tfin", panos_time(job["tfin"]) if job["tfin"] else "Still Active"),
            ("description", job["description"]), ("positionInQ", str(position)), ("progress", str(progress)),
        )
        for tag, text in values:
            etree.SubElement(entry, tag).text = text
        details = etree.SubElement(entry, "details")
        for line in job["details"]:
            etree.SubElement(details, "line").text = line
        warnings = etree.SubElement(entry, "warnings")
        for line in job["warnings"]:
            etree.SubElement(warnings, "line").text = line
        return entry

    def _op_jobs(self, node):
        what = [c for c in node if isinstance(c.tag, str)]
        result = etree.Element("result")
        if what and what[0].tag == "id":
            text = (what[0].text or "").strip().strip('"')
            if uint(text) is None:
                raise ApiError(17, "show -> jobs -> id '%s' is invalid" % text)
            job = self._jobs.get(uint(text))
            if job is None:
                raise ApiError(None, "job %s not found" % text)
            result.append(self._job_element(job))
        elif what and what[0].tag in ("all", "processed", "pending"):
            for job in reversed(list(self._jobs.values())):
                if what[0].tag == "processed" and job["status"] != "FIN":
                    continue
                if what[0].tag == "pending" and job["status"] == "FIN":
                    continue
                result.append(self._job_element(job))
        else:
            raise ApiError(17, "show -> jobs is incomplete: give id, all, processed or pending")
        return success(result=result)

    def _op_validate(self, _node):
        """`validate full`: a Validate job, which checks the candidate as a commit would and changes nothing."""
        self._refuse_if_queue_full()
        return job_enqueued("Validate", self._new_job("Validate")["id"])
