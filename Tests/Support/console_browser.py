#!/usr/bin/python3
"""Drives a real headless Chromium (Debian's chromium + chromium-driver, python3-selenium) through the operator
console as an operator would, with an admin key sent on every request (set through the DevTools protocol's
Network.setExtraHTTPHeaders, as a browser extension or a signing-in proxy would add it), and keeps a screenshot of
every screen.

usage: console_browser.py CONSOLE_URL ADMIN_KEY SCREENSHOT_DIR SEARCH_TEXT

Opens CONSOLE_URL (the list), searches for SEARCH_TEXT among pending requests, opens the first request found (its
timeline) and presses Resend, then opens the dead letters and presses the first Replay. Screenshots:
console-list.png, console-filter.png, console-timeline.png, console-dead-letters.png.
Prints one JSON object: what each screen showed.
"""
import json
import os
import sys
import time

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

NAVIGATING = (NoSuchElementException, StaleElementReferenceException)

url, key, directory, search = sys.argv[1:5]
os.makedirs(directory, exist_ok=True)

options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1200,900"):
    options.add_argument(argument)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
driver.set_page_load_timeout(30)
result = {}


def rows():
    return [link.text for link in driver.find_elements(By.CSS_SELECTOR, "#requests tbody a")]


def shot(name):
    driver.save_screenshot(os.path.join(directory, name + ".png"))


try:
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": "Bearer " + key}})

    driver.get(url)
    result["list"] = driver.find_element(By.TAG_NAME, "h1").text
    result["listRows"] = rows()
    result["pending"] = driver.find_element(By.ID, "count-pending").text
    # The script refreshes the counters: wait for its first refresh to have said when.
    WebDriverWait(driver, 20).until(lambda d: d.find_element(By.ID, "counts-at").text.startswith("as of"))
    result["lag"] = driver.find_element(By.ID, "count-consumerLag").text
    shot("console-list")

    driver.find_element(By.ID, "q").send_keys(search)
    Select(driver.find_element(By.ID, "status")).select_by_value("pending")
    driver.find_element(By.CSS_SELECTOR, "form.filters button[type=submit]").click()
    WebDriverWait(driver, 20).until(lambda d: "q=" in d.current_url)
    result["filterRows"] = rows()
    shot("console-filter")

    driver.find_element(By.CSS_SELECTOR, "#requests tbody a").click()
    WebDriverWait(driver, 20, ignored_exceptions=NAVIGATING).until(
        lambda d: d.find_element(By.TAG_NAME, "h1").text.startswith("Request "))
    result["timeline"] = driver.find_element(By.TAG_NAME, "h1").text
    result["timelineEntries"] = [item.text for item in driver.find_elements(By.CSS_SELECTOR, "#timeline li .what")]
    # Tall enough for the details, the actions and the whole timeline in one picture.
    driver.set_window_size(1200, 1900)
    shot("console-timeline")
    driver.set_window_size(1200, 900)
    driver.find_element(By.ID, "resend").click()
    WebDriverWait(driver, 20, ignored_exceptions=NAVIGATING).until(
        lambda d: d.find_element(By.CSS_SELECTOR, ".notice").text != "")
    result["resent"] = driver.find_element(By.CSS_SELECTOR, ".notice").text

    driver.get(url + "/dead-letters")
    for _ in range(100):
        if driver.find_elements(By.CSS_SELECTOR, "#letters tbody tr"):
            break
        time.sleep(0.2)
        driver.get(url + "/dead-letters")
    result["deadLetters"] = driver.find_element(By.TAG_NAME, "h1").text
    result["letters"] = len(driver.find_elements(By.CSS_SELECTOR, "#letters tbody tr"))
    shot("console-dead-letters")
    driver.find_element(By.CSS_SELECTOR, "#letters tbody button[type=submit]").click()
    WebDriverWait(driver, 20, ignored_exceptions=NAVIGATING).until(
        lambda d: d.find_element(By.CSS_SELECTOR, ".notice").text != "")
    result["replayed"] = driver.find_element(By.CSS_SELECTOR, ".notice").text
finally:
    driver.quit()
print(json.dumps(result))
