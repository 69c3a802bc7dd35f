#!/usr/bin/python3
"""Drives a real headless Chromium (Debian's chromium + chromium-driver, python3-selenium) through an approval
link as a person would, and keeps a screenshot of every page.

usage: browser_click.py LINK SCREENSHOT_DIR COMMENT [EMAIL_HTML_FILE] [--page NAME=URL]... [--submit NAME=URL]...
                        [--flood NAME=URL]

Opens LINK (the review page), types COMMENT, presses the page's button, waits for the result page, then opens
LINK again (the spent link's page). With EMAIL_HTML_FILE, first renders the email as a mail client would. Then,
in the order given: --page opens URL; --submit opens URL and presses its (first) button; --flood requests URL
until the server answers 429, then opens it. Each is kept as NAME.png.
Prints one JSON object: each page's <h1> (by name) and the result page's text.
"""
import json
import os
import sys
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

# While a form's POST loads the next page, the old page's heading can go away between finding it and reading it:
# that is "not yet", not a failure.
NAVIGATING = (NoSuchElementException, StaleElementReferenceException)

link, directory, comment = sys.argv[1:4]
rest = sys.argv[4:]
email_file = rest.pop(0) if rest and not rest[0].startswith("--") else None
extras = [(rest[i][2:],) + tuple(rest[i + 1].split("=", 1)) for i in range(0, len(rest), 2)]
os.makedirs(directory, exist_ok=True)

options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=420,900"):
    options.add_argument(argument)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
driver.set_page_load_timeout(30)
result = {}
try:
    if email_file:
        driver.get("file://" + os.path.abspath(email_file))
        driver.save_screenshot(os.path.join(directory, "email.png"))
        result["email"] = driver.find_element(By.TAG_NAME, "h1").text

    driver.get(link)
    result["review"] = driver.find_element(By.TAG_NAME, "h1").text
    driver.save_screenshot(os.path.join(directory, "review.png"))

    driver.find_element(By.ID, "comment").send_keys(comment)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, 20).until(expected_conditions.url_to_be(link))
    WebDriverWait(driver, 20, ignored_exceptions=NAVIGATING).until(
        lambda d: d.find_element(By.TAG_NAME, "h1").text != result["review"])
    result["result"] = driver.find_element(By.TAG_NAME, "h1").text
    result["resultText"] = driver.find_element(By.TAG_NAME, "main").text
    driver.save_screenshot(os.path.join(directory, "result.png"))

    # The decision reaches the workflow through Kafka: open the link again until the page says it is spent.
    for _ in range(100):
        driver.get(link)
        result["again"] = driver.find_element(By.TAG_NAME, "h1").text
        if result["again"].startswith("This request was already"):
            break
        time.sleep(0.2)
    driver.save_screenshot(os.path.join(directory, "already-decided.png"))

    for action, name, url in extras:
        if action == "flood":
            # The limiter refills as time passes: on a loaded machine the browser, opening the page a second after the
            # flood's 429, can be let through. Then flood again, until the browser itself is refused (five tries).
            for _ in range(5):
                for _ in range(500):
                    try:
                        urllib.request.urlopen(url, timeout=10).read()
                    except urllib.error.HTTPError as error:
                        if error.code == 429:
                            break
                driver.get(url)
                if driver.find_element(By.TAG_NAME, "h1").text == "Too many requests":
                    break
        else:
            driver.get(url)
        heading = driver.find_element(By.TAG_NAME, "h1").text
        if action == "submit":
            driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            WebDriverWait(driver, 20, ignored_exceptions=NAVIGATING).until(
                lambda d: d.find_element(By.TAG_NAME, "h1").text != heading)
            heading = driver.find_element(By.TAG_NAME, "h1").text
        result[name] = heading
        driver.save_screenshot(os.path.join(directory, name + ".png"))
finally:
    driver.quit()
print(json.dumps(result))
