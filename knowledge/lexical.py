"""Lexical search: jieba tokens (search mode) + BM25 (bm25s), with a police-work glossary.

The glossary maps everyday words officers use to the words statutes use ("酒驾" ->
"饮酒后驾驶机动车"), so a colloquial question still meets the statutory text. It is general
vocabulary of police work, not tied to any particular question.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import os
import re
import sys
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

# colloquial / police jargon -> statutory wording (query-side expansion)
GLOSSARY: dict[str, str] = {
    "酒驾": "饮酒后驾驶机动车",
    "醉驾": "醉酒驾驶机动车",
    "喝酒": "饮酒",
    "喝了酒": "饮酒",
    "开车": "驾驶机动车",
    "开摩托": "驾驶摩托车",
    "无证驾驶": "未取得机动车驾驶证驾驶",
    "肇事逃逸": "交通肇事后逃逸",
    "撞人": "交通事故 致人伤亡",
    "闯红灯": "违反交通信号",
    "超速": "超过规定时速",
    "扣车": "扣留机动车",
    "扣证": "暂扣机动车驾驶证",
    "吊销驾照": "吊销机动车驾驶证",
    "驾照": "机动车驾驶证",
    "袭警": "暴力袭击正在依法执行职务的人民警察",
    "打警察": "暴力袭击正在依法执行职务的人民警察",
    "推搡": "肢体冲突 暴力袭击",
    "撕扯": "撕扯 肢体冲突",
    "动手": "殴打 暴力",
    "跑了": "逃跑 脱逃 在逃",
    "逃了": "逃跑 脱逃 在逃",
    "逃跑": "逃跑 脱逃",
    "在逃": "在逃 通缉",
    "追逃": "在逃 通缉",
    "闹事": "寻衅滋事 扰乱 秩序",
    "耍酒疯": "醉酒 约束",
    "砸东西": "故意损毁财物",
    "敲诈": "敲诈勒索",
    "勒索": "敲诈勒索",
    "抗拒抓捕": "抗拒抓捕 暴力",
    "妨碍执法": "阻碍人民警察依法执行职务",
    "妨碍公务": "以暴力、威胁方法阻碍国家机关工作人员依法执行职务",
    "阻挠": "阻碍",
    "辱骂": "侮辱",
    "骂人": "侮辱",
    "诬告": "诬告陷害",
    "诬陷": "诬告陷害",
    "造谣": "捏造事实 诽谤",
    "威胁": "威胁 恐吓",
    "报复": "打击报复",
    "打人": "殴打他人",
    "打架": "殴打 斗殴",
    "打伤": "殴打 致人伤害",
    "群殴": "聚众斗殴",
    "偷东西": "盗窃",
    "偷窃": "盗窃",
    "被偷": "盗窃",
    "小偷": "盗窃",
    "扒窃": "扒窃 盗窃",
    "抢东西": "抢劫 抢夺",
    "抢钱": "抢劫",
    "抢包": "抢夺",
    "骗钱": "诈骗",
    "被骗": "诈骗",
    "骗子": "诈骗",
    "电诈": "电信网络诈骗",
    "赌博": "赌博 赌资",
    "吸毒": "吸食、注射毒品",
    "嫖娼": "卖淫、嫖娼",
    "家暴": "家庭暴力",
    "小孩": "未成年人",
    "孩子": "未成年人",
    "未成年": "未成年人 不满十八周岁 不满十六周岁 已满十四周岁",
    "老人": "老年人 已满七十周岁",
    "孕妇": "怀孕的妇女",
    "哺乳": "正在哺乳自己不满一周岁婴儿的妇女",
    "嫌疑人": "犯罪嫌疑人",
    "疑犯": "犯罪嫌疑人",
    "家属": "家属 家属通知",
    "家里人": "家属",
    "律师": "辩护律师 律师",
    "见律师": "会见 辩护律师",
    "会见": "会见 会见通信",
    "关押": "羁押",
    "关多久": "羁押期限",
    "拘留所": "拘留所",
    "看守所": "看守所 羁押",
    "抓人": "拘留 逮捕",
    "抓捕": "抓获 拘留 逮捕",
    "批捕": "批准逮捕",
    "报捕": "提请批准逮捕",
    "刑拘": "刑事拘留 拘留",
    "行拘": "行政拘留",
    "取保": "取保候审",
    "保证金": "保证金 取保候审",
    "监居": "监视居住",
    "指居": "指定居所监视居住",
    "传讯": "传唤",
    "带走": "传唤 带至",
    "盘查": "盘问 检查",
    "留置盘问": "继续盘问",
    "当场盘问": "当场盘问",
    "搜身": "人身检查 搜查",
    "查手机": "检查 电子数据",
    "查身份证": "查验居民身份证",
    "身份证": "居民身份证",
    "做笔录": "询问笔录 讯问笔录",
    "笔录": "笔录",
    "审讯": "讯问",
    "问话": "询问",
    "录像": "录音录像",
    "执法记录仪": "执法记录仪 录音录像",
    "打屁股": "体罚",
    "刑讯": "刑讯逼供",
    "逼供": "刑讯逼供",
    "打官司": "诉讼",
    "告公安": "行政诉讼 行政复议",
    "赔钱": "赔偿",
    "赔偿": "赔偿 国家赔偿",
    "罚款": "罚款",
    "罚钱": "罚款",
    "拘几天": "拘留 日以下",
    "什么情况下": "下列情形之一",
    "什么情况": "下列情形之一",
    "哪种情况": "下列情形之一",
    "什么情形": "下列情形之一",
    "哪些情形": "下列情形之一",
    "哪些情况": "下列情形之一",
    "什么条件": "条件 下列情形之一",
    "哪些条件": "条件 下列情形之一",
    "能不能": "可以 不得",
    "刑事责任": "刑事责任 处 有期徒刑 拘役",
    "怎么判": "处 有期徒刑 拘役",
    "判几年": "处 有期徒刑",
    "怎么处罚": "处 罚款 拘留",
    "怎么罚": "处 罚款 拘留",
    "多久": "期限 日 以内 不得超过",
    "多长时间": "期限 日 以内 不得超过",
    "几天": "日以内 期限",
    "最长": "最长 不得超过",
    "最迟": "至迟 不得超过 以内",
    "最多": "不得超过 为限 最长",
    "几次": "次 为限",
    "超期": "超过期限 羁押期限",
    "延期": "延长",
    "续期": "延长",
    "放人": "释放",
    "放了": "释放",
    "开枪": "使用武器 开枪",
    "用枪": "使用武器",
    "枪": "枪支 武器",
    "警棍": "警棍 警械",
    "手铐": "手铐 约束性警械",
    "辣椒水": "催泪 警械",
    "电击": "电警棍 警械",
    "上铐": "使用手铐 约束性警械",
    "投诉": "投诉 控告",
    "举报": "举报 控告",
    "报案": "报案 控告 举报",
    "报警": "报警 求助",
    "立案": "立案",
    "撤案": "撤销案件",
    "听证": "听证",
    "复议": "行政复议",
    "申诉": "申诉",
    "上访": "信访",
    "精神病": "精神病人",
    "醉汉": "醉酒的人",
    "喝醉": "醉酒",
    "外国人": "外国人",
    "黑社会": "黑社会性质组织",
    "恐怖分子": "恐怖活动",
    "个人信息": "公民个人信息",
    "人肉": "公民个人信息",
    "受伤": "伤害 受伤",
    "看病": "医疗",
    "心理": "心理 心理健康",
    "抚恤": "抚恤 优待",
    "正名": "澄清 恢复名誉",
    "名誉": "名誉 恢复名誉",
    "维权": "维护合法权益",
    "保护民警": "人民警察 依法执行职务 受法律保护",
    # everyday words for what the statutes name (the citizen's words officers repeat), by statutory term
    "黄色": "淫秽",
    "黄片": "淫秽 影片",
    "色情": "淫秽",
    "裸聊": "淫秽 表演",
    "小姐": "卖淫",
    "快递": "快件 邮件",
    "包裹": "邮件 快件",
    "偷拆": "私自开拆",
    "拆开": "开拆",
    "砸坏": "故意损毁 财物",
    "砸了": "故意损毁 财物",
    "砸碎": "故意损毁 财物",
    "划坏": "故意损毁 财物",
    "刻字": "刻划",
    "乱涂": "涂污",
    "景区": "名胜古迹",
    "古迹": "名胜古迹 文物",
    "死缠": "纠缠",
    "缠着": "纠缠",
    "讨钱": "乞讨",
    "要饭": "乞讨",
    "冒名": "冒用 招摇撞骗",
    "冒充": "冒充 招摇撞骗",
    "假证": "伪造 证件",
    "办假证": "伪造 证件",
    "假文凭": "伪造 证明文件",
    "假毕业证": "伪造 证明文件",
    "私刻": "伪造 印章",
    "假发票": "伪造 发票",
    "黑客": "侵入计算机信息系统",
    "入侵": "侵入 计算机信息系统",
    "网站": "计算机信息系统 网络",
    "电线": "电力电信设施",
    "电缆": "电力电信设施",
    "赌钱": "赌博 赌资",
    "抽头": "以营利为目的 赌博",
    "抽水": "以营利为目的 赌博",
    "开赌场": "开设赌场",
    "溜冰": "吸食 甲基苯丙胺",
    "冰毒": "甲基苯丙胺 毒品",
    "大麻": "毒品",
    "摇头丸": "毒品",
    "逼着": "强迫",
    "逼迫": "强迫",
    "干活": "劳动",
    "打工": "劳动 就业",
    "关起来": "拘禁 限制人身自由",
    "锁起来": "拘禁 限制人身自由",
    "不让走": "限制人身自由",
    "拐走": "拐卖 拐骗",
    "骚扰": "骚扰 滋扰 纠缠",
    "谣言": "散布谣言",
    "假消息": "谣言 虚假信息",
    "报假警": "谎报警情",
    "吓唬": "恐吓 威胁",
    "欺负": "欺凌 殴打 侮辱",
    "霸凌": "学生欺凌",
    "不赡养": "遗弃 赡养",
    "吵闹": "噪声 干扰他人正常生活",
    "噪音": "噪声",
    "太吵": "噪声 干扰他人正常生活",
    "养狗": "饲养动物",
    "狗叫": "饲养动物 干扰他人正常生活",
    "狗咬": "饲养动物 放任动物恐吓他人",
    "往下扔": "高空抛掷物品",
    "扔东西": "抛掷物品",
    "无人机": "民用无人驾驶航空器",
    "孔明灯": "升放携带明火的升空物体",
    "匕首": "管制器具",
    "带刀": "携带 管制器具",
    "管制刀具": "管制器具 管制刀具",
    "猎枪": "枪支",
    "气枪": "枪支",
    "鞭炮": "烟花爆竹",
    "烟花": "烟花爆竹",
    "警戒线": "警戒带 警戒区",
    "医闹": "扰乱 医疗 秩序",
    "碰瓷": "敲诈勒索 诈骗",
    "讹钱": "敲诈勒索",
    "讹人": "敲诈勒索",
    "群架": "结伙斗殴 聚众斗殴",
    "耍流氓": "猥亵 侮辱",
    "咸猪手": "猥亵",
    "性骚扰": "性骚扰 猥亵",
    "偷车": "盗窃 机动车",
    "偷开": "偷开他人机动车",
    "抢手机": "抢夺 抢劫",
    "收赃": "赃物 窝藏 销售",
    "作伪证": "伪证 提供虚假证言",
    "销毁证据": "毁灭证据",
    "越狱": "脱逃",
    "网吧": "互联网上网服务营业场所",
    "酒吧": "营业性娱乐场所 酒吧",
    "歌厅": "营业性娱乐场所",
    "黑工": "非法就业",
    "签证过期": "非法居留",
    "偷渡": "偷越国（边）境 非法出境入境",
    "老外": "外国人",
    "房东": "房屋出租人",
    "租客": "承租人",
    "租房": "房屋 出租",
    "开房": "旅馆 住宿 登记",
    "实名": "真实身份信息",
    "手机卡": "电话卡",
    "电话卡": "电话卡",
    "银行卡": "银行账户",
    "收款码": "支付账户",
    "跑分": "帮助信息网络犯罪活动 支付结算",
    "帮骗子": "帮助信息网络犯罪活动 电信网络诈骗",
    "私了": "调解 和解",
    "不立案": "不予立案",
    "抓走": "拘留 逮捕",
    "被关": "拘留 羁押",
    "关进去": "拘留 羁押",
    "坐牢": "有期徒刑 刑事责任",
    "判刑": "刑事责任 有期徒刑",
    "案底": "违法记录 犯罪记录 封存",
    "保出来": "取保候审",
    "请律师": "委托 辩护人 律师",
    "免费律师": "法律援助",
    "扣了": "扣押",
    "扣押": "扣押",
    "没收": "没收 收缴",
    "交罚款": "缴纳罚款",
    "收据": "专用票据",
    "票据": "专用票据",
    "分期": "分期缴纳 暂缓",
    "去法院告": "起诉 诉讼",
    "起诉": "起诉 诉讼",
    "搜家": "搜查 住处",
    "电棍": "电警棍 警械",
    "探视": "会见 通信",
    "探监": "会见 通信",
    "保护令": "人身安全保护令",
    "告诫": "告诫书",
    "民警": "人民警察",
    "警察": "人民警察",
    "公安局": "公安机关",
    "派出所": "公安派出所",
    "检察院": "人民检察院",
    "法院": "人民法院",
}

# English questions meet Chinese statutes through their statutory terms (matched as whole words).
ENGLISH_GLOSSARY: dict[str, str] = {
    "bail": "取保候审",
    "bail pending trial": "取保候审",
    "guarantor": "保证人",
    "house arrest": "监视居住",
    "detention": "拘留 羁押",
    "detain": "拘留",
    "arrest": "逮捕",
    "arrested": "逮捕",
    "approve arrest": "批准逮捕",
    "procuratorate": "人民检察院",
    "prosecutor": "人民检察院",
    "court": "人民法院",
    "police": "人民警察 公安机关",
    "police officer": "人民警察",
    "officer": "人民警察",
    "firearms": "武器 枪支",
    "gun": "武器 枪支",
    "shoot": "使用武器",
    "weapon": "武器",
    "weapons": "武器",
    "baton": "警棍 警械",
    "tear gas": "催泪弹 警械",
    "police equipment": "警械",
    "assault": "暴力袭击 殴打",
    "assaulting": "暴力袭击",
    "attack": "暴力袭击",
    "push": "推搡 暴力",
    "pushing": "推搡 暴力",
    "obstructing": "阻碍 执行职务",
    "insult": "侮辱",
    "threat": "威胁",
    "threaten": "威胁",
    "false accusation": "诬告陷害",
    "framed": "诬告陷害",
    "drunk driving": "饮酒后驾驶机动车 醉酒驾驶机动车",
    "drink driving": "饮酒后驾驶机动车",
    "driving": "驾驶 机动车",
    "driver's license": "机动车驾驶证",
    "traffic": "道路交通",
    "traffic accident": "交通事故",
    "relatives": "家属 近亲属",
    "defence lawyer": "辩护律师",
    "defense lawyer": "辩护律师",
    "meet": "会见",
    "visit": "会见",
    "interrogation": "讯问",
    "interrogate": "讯问",
    "questioning": "询问 盘问",
    "summon": "传唤",
    "summons": "传唤",
    "suspect": "犯罪嫌疑人",
    "criminal suspect": "犯罪嫌疑人",
    "investigation": "侦查",
    "penalty": "处罚 罚款",
    "punish": "处罚",
    "punished": "处罚",
    "fine": "罚款",
    "on the spot": "当场",
    "juvenile": "未成年人",
    "under 16": "不满十六周岁",
    "theft": "盗窃",
    "fraud": "诈骗",
    "telecom fraud": "电信网络诈骗",
    "domestic violence": "家庭暴力",
    "torture": "刑讯逼供",
    "id card": "居民身份证",
    "identity card": "居民身份证",
    "drugs": "毒品",
    "public security": "治安",
    "how long": "期限 最长 不得超过",
    "hours": "小时",
    "days": "日",
    "months": "个月",
    "criminal liability": "刑事责任",
    "crime": "犯罪",
    "when may": "下列情形之一",
    "under what circumstances": "下列情形之一",
    # general legal and police vocabulary: the statutory term for each
    "detention centre": "看守所",
    "detention center": "看守所",
    "detention house": "拘留所",
    "custody": "羁押 拘留",
    "in custody": "羁押 在押",
    "held in custody": "羁押",
    "period of custody": "羁押期限",
    "release": "释放",
    "released": "释放",
    "request for arrest": "提请批准逮捕",
    "arrest request": "提请批准逮捕",
    "approve an arrest": "批准逮捕",
    "approval of arrest": "批准逮捕",
    "warrant": "证",
    "search warrant": "搜查证",
    "search": "搜查",
    "searched": "搜查",
    "seize": "扣押 查封",
    "seized": "扣押 查封",
    "seizure": "扣押 查封",
    "confiscate": "没收 收缴",
    "confiscated": "没收 收缴",
    "interrogated": "讯问",
    "questioned": "询问",
    "question": "询问",
    "continued questioning": "继续盘问",
    "stop and question": "当场盘问 检查",
    "summoned": "传唤",
    "compelled appearance": "拘传",
    "witness": "证人",
    "testify": "作证",
    "evidence": "证据",
    "confession": "供述",
    "extort a confession": "刑讯逼供",
    "recording": "录音录像",
    "video recording": "录音录像",
    "defender": "辩护人",
    "defence": "辩护",
    "defense": "辩护",
    "legal representative": "法定代理人",
    "guardian": "监护人",
    "guardians": "监护人",
    "parents": "父母 监护人",
    "parent": "父母 监护人",
    "victim": "被害人 被侵害人",
    "victims": "被害人 被侵害人",
    "accused": "被告人",
    "defendant": "被告人",
    "offender": "违法行为人 犯罪分子",
    "violator": "违反治安管理行为人",
    "public order offence": "违反治安管理",
    "public order violation": "违反治安管理",
    "public order": "治安管理",
    "breaks public order rules": "违反治安管理",
    "administrative penalty": "行政处罚",
    "penalty decision": "处罚决定",
    "penalised": "处罚",
    "penalized": "处罚",
    "punishment": "处罚 刑罚",
    "sentence": "判处 刑罚",
    "sentenced": "判处",
    "prison": "有期徒刑",
    "imprisonment": "有期徒刑",
    "fixed-term imprisonment": "有期徒刑",
    "criminal detention": "拘役",
    "after criminal detention": "刑事拘留 拘留后",
    "after detention": "拘留后",
    "held": "羁押 拘留",
    "suspended sentence": "缓刑",
    "probation": "缓刑 社区矫正",
    "community correction": "社区矫正",
    "surrender": "自首 投案",
    "turns himself in": "自首 投案",
    "turn himself in": "自首 投案",
    "self-defence": "正当防卫",
    "self-defense": "正当防卫",
    "necessity": "紧急避险",
    "minor": "未成年人",
    "minors": "未成年人",
    "under eighteen": "不满十八周岁",
    "under sixteen": "不满十六周岁",
    "under fourteen": "不满十四周岁",
    "fourteen": "十四周岁",
    "fifteen": "十四周岁 十六周岁",
    "sixteen": "十六周岁",
    "elderly": "老年人 七十周岁",
    "pregnant": "怀孕",
    "breastfeeding": "哺乳",
    "mentally ill": "精神病人",
    "drunk": "醉酒",
    "drinking": "饮酒",
    "after drinking": "饮酒后",
    "driving licence": "机动车驾驶证",
    "driving license": "机动车驾驶证",
    "licence": "驾驶证 许可证",
    "license": "驾驶证 许可证",
    "revoked": "吊销",
    "without a licence": "未取得机动车驾驶证",
    "without a license": "未取得机动车驾驶证",
    "hit and run": "交通肇事后逃逸",
    "fled": "逃逸 逃跑",
    "flee": "逃逸 逃跑",
    "accident": "交通事故 事故",
    "vehicle": "机动车 车辆",
    "car": "机动车",
    "pedestrian": "行人",
    "seat belt": "安全带",
    "speeding": "超速 超过规定时速",
    "tow": "拖移",
    "towed": "拖移",
    "expressway": "高速公路",
    "beat": "殴打",
    "beating": "殴打",
    "beaten": "殴打",
    "hit": "殴打",
    "injury": "伤害",
    "injured": "伤害 受伤",
    "minor injury": "轻伤 轻微伤",
    "serious injury": "重伤",
    "fight": "斗殴 殴打",
    "fighting": "斗殴 殴打",
    "steal": "盗窃",
    "stole": "盗窃",
    "stolen": "盗窃 赃物",
    "stealing": "盗窃",
    "shoplifting": "盗窃",
    "robbery": "抢劫",
    "robbed": "抢劫",
    "snatch": "抢夺",
    "cheat": "诈骗",
    "cheated": "诈骗",
    "swindle": "诈骗 招摇撞骗",
    "extortion": "敲诈勒索",
    "blackmail": "敲诈勒索",
    "gambling": "赌博",
    "gamble": "赌博",
    "prostitution": "卖淫 嫖娼",
    "soliciting prostitution": "嫖娼",
    "pornographic": "淫秽",
    "pornography": "淫秽",
    "drug": "毒品",
    "drug user": "吸毒人员",
    "taking drugs": "吸食 注射毒品",
    "drug rehabilitation": "戒毒",
    "compulsory isolated": "强制隔离戒毒",
    "community rehabilitation": "社区戒毒",
    "rehabilitation": "戒毒",
    "harass": "骚扰 滋扰",
    "harassing": "骚扰 滋扰",
    "stalk": "跟踪",
    "follows me": "跟踪",
    "spreading lies": "散布谣言 捏造事实",
    "rumours": "谣言",
    "rumors": "谣言",
    "defamation": "诽谤",
    "slander": "诽谤",
    "insults": "侮辱",
    "groped": "猥亵",
    "indecent": "猥亵",
    "bullying": "欺凌",
    "abuse": "虐待",
    "abusing": "虐待",
    "noise": "噪声",
    "loud music": "噪声",
    "dog": "饲养动物",
    "drone": "无人驾驶航空器",
    "dagger": "管制器具",
    "knife": "管制刀具 管制器具",
    "cordon": "警戒带 警戒区",
    "forged": "伪造",
    "fake": "伪造 虚假",
    "counterfeit": "伪造",
    "personal information": "个人信息",
    "personal data": "个人信息",
    "real name": "真实身份信息",
    "bank card": "银行账户",
    "bank account": "银行账户",
    "phone card": "电话卡",
    "foreigner": "外国人",
    "foreign": "外国人",
    "visa": "签证",
    "overstay": "非法居留",
    "illegal employment": "非法就业",
    "leave the country": "出境",
    "landlord": "房屋出租人",
    "hotel": "旅馆",
    "register": "登记",
    "registration": "登记",
    "lost": "丢失",
    "validity": "有效期",
    "valid": "有效期",
    "reconsideration": "行政复议",
    "administrative reconsideration": "行政复议",
    "sue": "起诉 行政诉讼",
    "lawsuit": "诉讼",
    "appeal": "申诉 上诉",
    "complain": "投诉 控告",
    "complaint": "投诉 控告",
    "report": "报案 举报",
    "case": "案件",
    "open a case": "立案",
    "file a case": "立案",
    "mediate": "调解",
    "mediation": "调解",
    "hearing": "听证",
    "on-the-spot": "当场",
    "receipt": "专用票据",
    "deposit": "保证金",
    "bail deposit": "保证金",
    "protection order": "人身安全保护令",
    "personal protection order": "人身安全保护令",
    "written warning": "告诫书",
    "warning": "警告 告诫",
    "handcuffs": "手铐 约束性警械",
    "handcuffed": "手铐 约束性警械",
    "shackled": "脚镣 约束性警械",
    "electric baton": "电警棍 警械",
    "firearm": "武器 枪支",
    "open fire": "开枪 使用武器",
    "fire their guns": "开枪 使用武器",
    "use of force": "使用警械",
    "auxiliary police": "警务辅助人员 辅警",
    "auxiliary police officer": "警务辅助人员 辅警",
    "assaulting police": "袭警 暴力袭击正在依法执行职务的人民警察",
    "assault on police": "袭警 暴力袭击正在依法执行职务的人民警察",
    "violent attack": "暴力袭击",
    "on duty": "执行职务",
    "off duty": "非工作时间",
    "obstruct": "阻碍 执行职务",
    "obstruction": "阻碍 执行职务",
    "inspection": "督察",
    "state compensation": "国家赔偿",
    "compensation": "赔偿",
    "legal aid": "法律援助",
    "lawyer": "律师 辩护律师",
    "detained": "拘留",
    "administrative detention": "行政拘留",
    "residential surveillance": "监视居住",
    "pyramid scheme": "传销",
    "wages": "劳动报酬",
    "unpaid wages": "拒不支付劳动报酬",
    "petition": "信访",
    "petitions": "信访",
    "time limit": "期限",
    "deadline": "期限",
    "maximum": "最长 不得超过",
    "at most": "最长 不得超过",
    "how many days": "日 期限",
    "how many hours": "小时",
    "within how many": "以内",
    "how soon": "以内 立即",
    "family": "家属",
    "relative": "家属 近亲属",
    "notify": "通知",
    "notified": "通知",
}
_ENGLISH_RE = None


def english_terms(text: str) -> list[re.Match[str]]:
    """The glossary's English legal terms in a (lower-cased) text, longest first where they overlap."""
    return list(_english_pattern().finditer(text))


def _english_pattern() -> re.Pattern[str]:
    global _ENGLISH_RE
    if _ENGLISH_RE is None:
        words = sorted(ENGLISH_GLOSSARY, key=len, reverse=True)
        _ENGLISH_RE = re.compile(r"\b(" + "|".join(re.escape(w) for w in words) + r")\b")
    return _ENGLISH_RE


_STOPWORDS = frozenset(
    ["的", "了", "是", "吗", "呢", "吧", "啊", "么", "在", "和", "与", "及", "或", "要", "会", "能", "可以", "怎么", "怎么样", "怎样", "什么", "哪些", "哪个", "如何", "是否", "有", "没有", "被", "把", "对", "给", "让", "这", "那", "这个", "那个", "一个", "我", "你", "他", "她", "我们", "他们", "请问", "一下", "还是", "就", "都", "也", "应当", "应该", "需要", "算", "不算", "情况", "情形", "时候", "？", "?", "，", ",", "。", ".", "！", "!", "、", "：", ":", "；", ";", "（", "）", "(", ")", "《", "》", "“", "”", '"', "'", "the", "a", "an", "of", "to", "is", "are", "do", "does", "how", "what", "when", "can", "in", "on", "for"]
)
_TOKEN_OK = re.compile(r"[\w\u4e00-\u9fff]")

# BM25 parameters: b below the usual 0.75 because long articles (lists of 情形) are often the
# answer and should not be penalised as much for their length; see bench/README.knowledge.md
BM25_K1 = 1.2
BM25_B = 0.5
# Character bigrams of Chinese runs are indexed next to jieba's words, so a segmentation that
# splits differently in question and article ("保证人要" -> 保证/人要) still matches.
BM25_BIGRAMS = True
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]{2,}")

# How a question asks (多久, 什么情况下, 怎么处罚 …), as opposed to what it asks about: the statutory
# wording these bring in (期限, 下列情形之一, 处 罚款 …) counts less than the question's own subject.
QUESTION_FORMS = frozenset(
    [
        "什么情况下", "什么情况", "哪种情况", "什么情形", "哪些情形", "哪些情况", "什么条件", "哪些条件", "能不能", "刑事责任", "怎么判",
        "判几年", "怎么处罚", "怎么罚", "多久", "多长时间", "几天", "最长", "最迟", "拘几天", "关多久", "最多", "几次",
        "how long", "time limit", "deadline", "maximum", "at most", "how many days", "how many hours",
        "within how many", "how soon", "when may", "under what circumstances", "penalty", "punish", "punished",
    ]
)
QUESTION_FORM_WEIGHT = 0.3
# The police as the actor of a question: 警察能管吗, 民警要不要…
ROLE_WORDS = frozenset(["警察", "民警", "人民警察", "公安", "公安局", "公安机关", "派出所", "公安派出所", "人民", "police", "officer"])
ROLE_WORD_WEIGHT = 0.3


@functools.lru_cache(maxsize=1024)
def form_tokens(query: str) -> frozenset[str]:
    """Returns the tokens (words and bigrams) of the question-form words a question uses."""
    found: set[str] = set()
    lowered = query.lower()
    for word in QUESTION_FORMS:
        if word in lowered:
            found.update(tokenize(word))
            found.update(bigrams(word))
    return frozenset(found)


def subject_words(query: str) -> list[str]:
    """Returns the question's own words about its subject (not how it asks, not the police's role)."""
    forms = form_tokens(query)
    return [t for t in dict.fromkeys(tokenize(query)) if t not in forms and not is_role_word(t)]


def subject_terms(query: str) -> list[str]:
    """Returns the subject words with the statutory wording the glossary gives for them."""
    subject, _form = expansions(query)
    own = subject_words(query)
    added = [t for t in tokenize(" ".join(subject)) if not is_role_word(t)]
    return list(dict.fromkeys(own + added))


def is_role_word(token: str) -> bool:
    if token.startswith("~"):
        return token[1:] in ("警察", "民警", "人民", "公安", "派出", "出所")
    return token in ROLE_WORDS


_jieba_lock = threading.Lock()
_jieba_ready = False


def _jieba() -> Any:
    global _jieba_ready
    with warnings.catch_warnings():
        # jieba's sources carry invalid escape sequences; not ours to fix, and harmless
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", SyntaxWarning)
        import jieba  # loading the dictionary takes about a second: done once, lazily

    with _jieba_lock:
        if not _jieba_ready:
            jieba.setLogLevel(logging.WARNING)
            for word in GLOSSARY:
                jieba.add_word(word, freq=20000)
            for expansion in GLOSSARY.values():
                for word in expansion.split():
                    if 2 <= len(word) <= 8:
                        jieba.add_word(word, freq=20000)
            _jieba_ready = True
    return jieba


def tokenizer_id() -> str:
    """Names the tokenizer configuration: saved tokens are only reused by the same one."""
    import jieba

    words = sorted(GLOSSARY.items())
    key = json.dumps([jieba.__version__, words, sorted(_STOPWORDS)], ensure_ascii=False)
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


def tokenize(text: str) -> list[str]:
    """Splits text into search tokens (jieba search mode, stopwords and punctuation dropped)."""
    if len(text) <= _CACHED_TEXT_CHARS:
        return list(_short_tokens(text))
    return _tokens(text)


# A question is segmented by the search, the confidence and the answer's lead-in, and the lead-in
# segments the sentences of the articles cited, which recur across questions: short texts are
# remembered (whole articles, segmented when indexing, are not: they would crowd the cache).
_CACHED_TEXT_CHARS = 200


@functools.lru_cache(maxsize=8192)
def _short_tokens(text: str) -> tuple[str, ...]:
    return tuple(_tokens(text))


def _tokens(text: str) -> list[str]:
    jieba = _jieba()
    return [
        t.lower()
        for t in jieba.lcut_for_search(text)
        if t.strip() and t not in _STOPWORDS and _TOKEN_OK.search(t)
    ]


def bigrams(text: str) -> list[str]:
    """Returns the character bigrams of the Chinese runs of a text, marked apart from words."""
    return ["~" + run[i : i + 2] for run in _CJK_RUN.findall(text) for i in range(len(run) - 1)]


def expand_query(text: str) -> str:
    """Appends the statutory wording of every glossary term found in the question."""
    subject, form = expansions(text)
    extra = subject + form
    return text if not extra else text + " " + " ".join(extra)


def expansions(text: str) -> tuple[list[str], list[str]]:
    """Returns the statutory wording a question's glossary terms bring: for its subject, and for its form."""
    subject, form = _expansions(text)
    return list(subject), list(form)


@functools.lru_cache(maxsize=1024)
def _expansions(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    subject: list[str] = []
    form: list[str] = []
    for word, expansion in GLOSSARY.items():
        if word in text:
            (form if word in QUESTION_FORMS else subject).append(expansion)
    if text.isascii() or re.search(r"[A-Za-z]{3,}", text):
        for match in _english_pattern().finditer(text.lower()):
            word = match.group(1)
            (form if word in QUESTION_FORMS else subject).append(ENGLISH_GLOSSARY[word])
    return tuple(subject), tuple(form)


# How an English question asks, as a Chinese question would ask it (多久, 怎么处罚 …): with the
# statutory Chinese of its terms this makes the Chinese question it stands for (see chinese_rendering).
ENGLISH_ASKING: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(?:maximum|at most|longest|the most)\b"), "最长"),
    (
        re.compile(
            r"\b(?:how long|how many (?:days|hours|months|years)|how soon|period|time limit|deadline|within how)\b"
        ),
        "多久",
    ),
    (re.compile(r"\b(?:how much|how many yuan|amount|threshold)\b"), "多少"),
    (re.compile(r"\b(?:penalt(?:y|ies)|punish(?:ed|ment)?|fined?|sentenced?|what happens to)\b"), "怎么处罚"),
    (re.compile(r"\b(?:what|which) (?:crime|offen[cs]e)\b|\bcriminal offen[cs]e\b|\ba crime\b"), "什么罪"),
    (
        re.compile(
            r"\b(?:under what circumstances|in what (?:cases|circumstances)|when (?:can|may|must|should))\b"
        ),
        "什么情况下",
    ),
    (re.compile(r"\b(?:count as|counts as|amount to|constitute)\b"), "算不算"),
    (re.compile(r"\b(?:must|have to|has to|required|obliged|need to)\b"), "应当"),
    (re.compile(r"^(?:can|may)\b|\b(?:allowed|permitted)\b"), "能不能"),
    (re.compile(r"\b(?:who (?:decides|approves)|whose approval|approv(?:e|al))\b"), "谁批准"),
    (re.compile(r"\b(?:how (?:should|do|does|to)|what (?:procedure|steps))\b"), "怎么办"),
)


@functools.lru_cache(maxsize=1024)
def chinese_rendering(question: str) -> str:
    """The Chinese question an English one stands for: its terms' statutory Chinese and how it asks.

    "What is the maximum period of criminal detention?" -> "拘役 最长 多久". Empty when the
    glossary knows none of its terms (or the question is not mostly English).
    """
    if not _mostly_latin(question):
        return ""
    subject, _form = expansions(question)
    if not subject:
        return ""
    lowered = question.lower()
    asking = [chinese for pattern, chinese in ENGLISH_ASKING if pattern.search(lowered)]
    terms = dict.fromkeys(" ".join(subject).split())
    return " ".join([*terms, *dict.fromkeys(asking)])


def dense_text(query: str) -> str:
    """Returns what is embedded for a question: an English one carries the statutory Chinese of its terms.

    The bundled model matches English questions to Chinese statutes only loosely; the question
    with its subject terms' statutory wording appended lands much nearer the articles that answer it.
    """
    if not _mostly_latin(query):
        return query
    subject, _form = expansions(query)  # how it asks (最长, 期限 …) would pull towards any article with a period
    if not subject:
        return query
    terms = dict.fromkeys(" ".join(subject).split())
    return f"{query} {' '.join(terms)}"


def _mostly_latin(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and sum(c.isascii() for c in letters) > len(letters) / 2


class LexicalIndex:
    """BM25 over record texts; rebuilt from the token cache when records change."""

    def __init__(self, *, k1: float = BM25_K1, b: float = BM25_B, use_bigrams: bool | None = None) -> None:
        self.k1 = k1
        self.b = b
        self.use_bigrams = BM25_BIGRAMS if use_bigrams is None else use_bigrams
        self._token_cache: dict[str, list[str]] = {}
        self._ids: list[str] = []
        self._bm25: Any = None

    def load_tokens(self, path: Path) -> None:
        """Loads tokens saved by an earlier run, if they were made by the same tokenizer."""
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            return
        if data.get("tokenizer") == self._tokenizer_id():
            # interned: the same word or bigram recurs across thousands of articles
            for digest, tokens in data.get("tokens", {}).items():
                self._token_cache[digest] = [sys.intern(t) for t in tokens]

    def save_tokens(self, path: Path) -> None:
        """Saves the token cache so the next start does not re-segment every article."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"tokenizer": self._tokenizer_id(), "tokens": self._token_cache}, ensure_ascii=False), "utf-8")
        os.replace(tmp, path)

    def _tokenizer_id(self) -> str:
        return tokenizer_id() + ("+bigrams" if self.use_bigrams else "")

    def _index_tokens(self, text: str) -> list[str]:
        return [sys.intern(t) for t in tokenize(text) + (bigrams(text) if self.use_bigrams else [])]

    def build(self, items: Sequence[tuple[str, str, str]]) -> bool:
        """Indexes (record_id, content_hash, text) triples; returns whether any text was new."""
        import bm25s

        # bm25s sets its own logger to DEBUG, which would print on every rebuild
        logging.getLogger("bm25s").setLevel(logging.WARNING)
        corpus: list[list[str]] = []
        cache: dict[str, list[str]] = {}
        fresh = False
        for _record_id, digest, text in items:
            tokens = self._token_cache.get(digest)
            if tokens is None:
                tokens = self._index_tokens(text)
                fresh = True
            cache[digest] = tokens
            corpus.append(tokens or ["\u2205"])
        self._token_cache = cache
        self._ids = [record_id for record_id, _d, _t in items]
        if not corpus:
            self._bm25 = None
            return fresh
        bm25 = bm25s.BM25(k1=self.k1, b=self.b)
        bm25.index(corpus, show_progress=False)
        self._bm25 = bm25
        return fresh

    def tokens_of(self, content_hash: str) -> list[str] | None:
        """Returns the cached tokens of an indexed text, by content hash."""
        return self._token_cache.get(content_hash)

    @property
    def ids(self) -> list[str]:
        """Returns the indexed record ids, in index order."""
        return self._ids

    def knows(self, token: str) -> bool:
        """Tells whether any indexed text has the token."""
        return self._bm25 is not None and token in self._bm25.vocab_dict

    def idf(self, token: str) -> float:
        """Returns how rare a token is across the indexed texts (BM25's idf; unseen tokens rate highest)."""
        bm25 = self._bm25
        if bm25 is None:
            return 1.0
        total = int(bm25.scores["num_docs"])
        token_id = bm25.vocab_dict.get(token)
        pointers = bm25.scores["indptr"]
        count = 0 if token_id is None else int(pointers[token_id + 1] - pointers[token_id])
        return math.log(1.0 + (total - count + 0.5) / (count + 0.5))

    def scores(self, query: str) -> np.ndarray[Any, Any]:
        """Returns a BM25 score per indexed record (index order) for the expanded query."""
        if self._bm25 is None:
            return np.zeros(0, dtype=np.float32)
        scores = np.zeros(len(self._ids), dtype=np.float32)
        for group, weight in self._groups(query):
            scores += weight * np.asarray(self._bm25.get_scores(group), dtype=np.float32)
        return scores

    def ceiling(self, query: str) -> float:
        """Returns the highest BM25 score a text could reach for the question (every word, often enough).

        Words of the question no text has count as well (at the rarest weight): a question about
        something the corpus never speaks of reaches only a small share of its ceiling.
        """
        found = sum(weight * sum(self.idf(t) for t in group) for group, weight in self._groups(query))
        unseen = [t for t in subject_words(query) if len(t) >= 2 and not self.knows(t)]
        return (found + sum(self.idf(t) for t in unseen)) * (self.k1 + 1)

    def _groups(self, query: str) -> list[tuple[list[str], float]]:
        """Returns the question's search words in groups with their weights.

        Each word counts once, however many glossary entries brought it in. Words naming the
        police themselves are in most questions and in a whole law's name (人民警察法), and the
        words of how a question asks (多久 → 期限 …) are not its subject: both count less.
        """
        if self._bm25 is None:
            return []
        subject, form = expansions(query)
        own = tokenize(" ".join([query, *subject])) + (bigrams(query) if self.use_bigrams else [])
        vocabulary = self._bm25.vocab_dict
        main = list(dict.fromkeys(t for t in own if t in vocabulary))
        roles = [t for t in main if is_role_word(t)]
        forms = form_tokens(query)
        asked = [t for t in main if t in forms]
        main = [t for t in main if not is_role_word(t) and t not in forms]
        asked += [
            t
            for t in dict.fromkeys(tokenize(" ".join(form)))
            if t in vocabulary and t not in main and t not in roles and t not in asked
        ]
        groups = ((main, 1.0), (roles, ROLE_WORD_WEIGHT), (asked, QUESTION_FORM_WEIGHT))
        return [(group, weight) for group, weight in groups if group and weight > 0]
