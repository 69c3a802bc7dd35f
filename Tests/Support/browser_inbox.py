#!/usr/bin/python3
"""Drives a real headless Chromium (Debian's chromium + chromium-driver, python3-selenium) through the approver
inbox as a person would, and keeps a screenshot of each screen.

usage: browser_inbox.py BASE_URL EMAIL LINK_FILE SCREENSHOT_DIR DELEGATE

Opens BASE_URL/inbox (which sends to the sign-in page), types EMAIL and asks for a link; waits for LINK_FILE to
hold the emailed sign-in link (the test writes it once the email arrives), opens it and presses its button; on the
inbox, selects every request and presses "Approve selected"; then opens the inbox until nothing waits; then follows "Out of office" and names DELEGATE instead of
themselves. Screenshots: inbox-sign-in.png, inbox-check-email.png, inbox-sign-in-link.png, inbox-list.png,
inbox-results.png, inbox-after.png, inbox-out-of-office.png, inbox-out-of-office-saved.png. Prints one JSON object: each page's <h1>, the requests listed, and the results page's text.
"""
import json
import os
import sys
import time

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

# While a form's POST loads the next page, the old page's heading can go away between finding it and reading it
# (Chromium may then say its node "does not belong to the document"): that is "not yet", not a failure.
NAVIGATING = (NoSuchElementException, StaleElementReferenceException, WebDriverException)

base, email, link_file, directory, delegate = sys.argv[1:6]
os.makedirs(directory, exist_ok=True)

options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=480,1400"):
    options.add_argument(argument)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
driver.set_page_load_timeout(30)
result = {}


def heading():
    return driver.find_element(By.TAG_NAME, "h1").text


def press(selector, before):
    driver.find_element(By.CSS_SELECTOR, selector).click()
    WebDriverWait(driver, 30, ignored_exceptions=NAVIGATING).until(lambda d: heading() != before)


def shot(name):
    driver.save_screenshot(os.path.join(directory, name + ".png"))


try:
    driver.get(base + "/inbox")
    result["signIn"] = heading()
    driver.find_element(By.ID, "email").send_keys(email)
    shot("inbox-sign-in")
    press("button[type=submit]", result["signIn"])
    result["checkEmail"] = heading()
    shot("inbox-check-email")

    link = None
    for _ in range(600):
        if os.path.exists(link_file):
            link = open(link_file).read().strip()
            if link:
                break
        time.sleep(0.1)
    if not link:
        raise SystemExit("no sign-in link was written to " + link_file)
    driver.get(link)
    result["signInLink"] = heading()
    shot("inbox-sign-in-link")
    press("button[type=submit]", result["signInLink"])
    result["inbox"] = heading()
    result["listed"] = [box.get_attribute("value") for box in driver.find_elements(By.CSS_SELECTOR, "input[name=id]")]
    shot("inbox-list")

    for box in driver.find_elements(By.CSS_SELECTOR, "input[name=id]"):
        if not box.is_selected():
            box.click()
    press("button[value=approve]", result["inbox"])
    result["results"] = heading()
    result["resultsText"] = driver.find_element(By.TAG_NAME, "main").text
    shot("inbox-results")

    # The votes reach the workflow through Kafka: open the inbox until nothing waits.
    for _ in range(150):
        driver.get(base + "/inbox")
        result["afterText"] = driver.find_element(By.TAG_NAME, "main").text
        if "Nothing waits on you" in result["afterText"]:
            break
        time.sleep(0.2)
    result["after"] = heading()
    shot("inbox-after")

    # Out of office: follow the inbox's link, name a delegate, save.
    driver.find_element(By.LINK_TEXT, "Out of office").click()
    WebDriverWait(driver, 30, ignored_exceptions=NAVIGATING).until(lambda d: heading() != result["after"])
    result["outOfOffice"] = heading()
    driver.find_element(By.ID, "delegate").send_keys(delegate)
    driver.find_element(By.CSS_SELECTOR, "input[name=mode][value=instead]").click()
    shot("inbox-out-of-office")
    driver.find_element(By.CSS_SELECTOR, "button.approve").click()
    WebDriverWait(driver, 30, ignored_exceptions=NAVIGATING).until(
        lambda d: "Saved." in d.find_element(By.TAG_NAME, "main").text)
    result["outOfOfficeText"] = driver.find_element(By.TAG_NAME, "main").text
    shot("inbox-out-of-office-saved")
finally:
    driver.quit()
print(json.dumps(result))
